// Package hnsw is vecgate's graph index: a Hierarchical Navigable Small
// World graph (Malkov & Yashunin) with pgvector's knobs m, ef_construction
// and ef_search (defaults 16 / 64 / 40).
//
// Layout (for speed, no per-node objects): vectors live in one contiguous
// (under cosine, normalised to unit length so ranking is one dot product)
// []float32 (node i at vecs[i*dims:]); level-0 neighbour lists in one flat
// []uint32 of 2m+1 words per node (count, then ids); upper levels, which only
// about 1/m of the nodes have, in one shared array of (m+1)-word rows, a node's
// levels in consecutive rows from a per-node offset (4 bytes a node, not a
// slice header). Integer primary keys are kept as int64s, and only uuid and
// text keys pay for general ann.Keys; keys find their nodes through a hash
// table of node ids that reads the keys from those arrays. Searches reuse
// pooled visited sets (generation-stamped) and heaps, so the search loop
// allocates nothing per candidate.
//
// The wide node arrays (vectors, codes, level-0 and upper lists) are chunks
// mapped outside the Go heap (store.go): pointer-free, not scanned, not
// doubled by GOGC's headroom, and freed explicitly, never by the collector —
// Close frees them all (the owner must call it), and growing, Reorder and
// Requantize free what they replace, each under mu held exclusively, so no
// search reads a freed chunk. With Config.VectorDir the float32 vectors of a
// quantised index that keeps them are a mapped, unlinked file instead.
//
// Concurrency: mu (RWMutex) is held shared by searches and by the graph
// phase of inserts, exclusively only to grow the arrays, to delete, to
// compact, to move the entry point, and to Close. Neighbour lists are written under a
// striped per-node mutex and read without it using atomic loads, so searches
// run concurrently with inserts. Node slots are allocated under allocMu.
//
// Deletes mark a tombstone: the node keeps routing searches but is never
// returned. When tombstones exceed Config.CompactRatio of the nodes (or on
// Compact), every live node that points to a deleted one has its list
// repaired: candidates are its live neighbours and the live nodes reached
// through chains of deleted ones (up to 3 deep), or, when those are too few
// (a bulk delete of most of a neighbourhood), its neighbours found by a
// search of the graph; the selection heuristic picks among them and the
// list is filled up to its former length with the nearest it passed over.
// The deleted slots are then unlinked and their ids reused by later
// inserts, so space is really freed, and a walk of level 0 relinks any live
// node the entry point no longer reaches (Relink). Invariant, tested after
// random inserts and deletes of every kind: every live node is reachable
// from the entry point at level 0 after a compaction or a Relink. Inserts
// one at a time can leave a node without in-links (a neighbour's full list
// pruned it, or refused it); MaybeRelink, which live calls at every commit,
// relinks once the inserts reach a tenth of the index (checking each node
// dropped from a list at every commit was tried: under sustained churn it fell
// back to whole-graph relinks at most commits).
//
// A list keeps at most a quarter of its entries with one same vector: a
// group of identical vectors larger than a list otherwise fills its members'
// lists with one another, and a search that enters it never leaves. Level 0
// is searched from the entry point as well as from where the descent through
// the upper levels ended. A search whose ef is at least the live rows scans
// them instead of walking the graph (it would visit every node anyway).
//
// An inner-product graph is linked and searched by inner product (linked by
// L2, recall@10 fell from 0.996 to 0.938 on clustered data).
//
// Filtered search estimates the filter's selectivity on a sample of nodes;
// below Config.ExactFilterRows allowed rows it scans the allowed set exactly
// (recall 1), otherwise it walks the graph with ef widened by 1/selectivity.
//
// An SQ8 index measures each row it takes against a drift bound (drift.go): a
// row its codec clips past the bound is linked as any other and also kept on
// a side list that every search scans exactly and merges, so a row far outside
// the trained range is never lost; Requantize re-quantises in the background
// (codes built under the read lock a chunk at a time, swapped in under the
// write lock) and empties the list of the rows the new codec covers.
//
// Save writes a View (view.go): Freeze takes the index as it is with no large
// copy, and the view writes Save's bytes of that moment while inserts,
// deletes and searches go on — a frozen node's neighbour list is saved into
// the view before its first write, freed slots are not reused, and
// compaction, Reorder and a re-quantisation's swap wait (or are skipped)
// until the view is released. One view is open at a time.
//
// Levels come from a seeded RNG (Config.Seed); a single-threaded build of the
// same inserts is deterministic.
package hnsw
