// Package ivf is vecgate's inverted-file index (pgvector's IVFFlat, FAISS's
// IVF): a coarse k-means quantiser splits the vectors into Lists cells;
// a search visits the Probes cells whose centroids are nearest the query.
//
// Codes per cell: "flat" (float32 vectors), "sq8" (quant/sq8 int8 codes),
// "pq" (product quantisation of the residual to the centroid, one byte per
// sub-vector, asymmetric distance tables) or "binary" (quant/binary sign
// bits, Hamming distance). Quantised indexes can keep the float32 vectors
// (KeepVectors) to rerank k×Oversample candidates exactly; without them
// distances are estimates and the caller reranks in Postgres.
//
// Training: k-means++ initialisation on a seeded sample, Lloyd iterations
// with parallel assignment. Vectors added before training wait in a pending
// buffer that searches scan exactly; once Config.TrainRows are pending (or
// on AddBatch, or Train) the index trains and files them. Adding after
// training only assigns and encodes. Drift reports how much the mean
// squared distance of vectors added since training to their centroid grew
// (TrainStats: with the rows at training and the retrains done); Retrain
// re-runs training on the current vectors without holding the lock for it
// (retrain.go: k-means and re-filing on a copy, changes made meanwhile
// replayed by node id, swap under the write lock).
//
// Rows a trained quantised index's codes would misplace (drift.go: clipped
// past the SQ8 range, far from every centroid, a binary code shared by many)
// stay pending too, scanned exactly by every search; a Retrain files them again.
//
// Invariants: every live key is either pending or in exactly one list at
// (list, pos); lists are dense (delete moves the list's last entry into the
// hole), so deletes free space immediately. One RWMutex guards everything:
// searches share it, writers take it exclusively (Retrain's builder is
// private until it is swapped in).
package ivf
