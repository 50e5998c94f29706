package live

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/replication"
)

// Snapshots: replication writes the Set's state to disk with its LSN (the file around it carries
// the version, slot, LSN and a checksum) and reads it back at start, so a restart resumes from
// the slot instead of reloading every table. The Set's part is, per target, what it needs to
// rebuild the entry and each index: its layout (kind, Matryoshka dimensions), then the index in
// its own file format (HNSW or IVF). The payload is an internal/fileformat container of kind
// "LIVE" (nested in replication's "SNAP" container); its checksum is verified before the Set's
// state is replaced.

var _ replication.Snapshotter = (*Set)(nil)

// snapshotVersion is the payload's format version. Before 7 the payload was a stream of uvarints
// behind the magic "vecgate-live-N\n" (4: INCLUDE values, 5: the table's OID, 6: each index's
// left-out rows); such a payload is refused (the full load that follows rebuilds it). 8: held
// (covering) column values. 9: each index's expression (catalog.IndexExpr, "" for a column).
// 10: each index's file streamed in chunks (chunkWriter) instead of one length-prefixed field,
// which made the writer hold the whole file in memory first to know its length. An older payload
// is refused like any unreadable one (a full load rebuilds it).
const snapshotVersion = 10

// chunkWriter frames what an index's Save writes as a run of length-prefixed chunks (one per
// Write: Save writes through a buffer of its own), ended by an empty one (end): the file is
// written as it is produced, and its length need not be known first.
type chunkWriter struct{ e *fileformat.Encoder }

func (c chunkWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.e.Bytes(p)
	}
	return len(p), nil
}

func (c chunkWriter) end() { c.e.Bytes(nil) }

// chunkReader reads what chunkWriter wrote, up to the empty chunk; decode errors stay in d.
type chunkReader struct {
	d   *fileformat.Decoder
	cur []byte
	eof bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		c.cur = c.d.Bytes()
		if err := c.d.Err(); err != nil {
			return 0, err
		}
		c.eof = len(c.cur) == 0
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// WriteSnapshot implements replication.Snapshotter: FreezeSnapshot, written at once.
func (s *Set) WriteSnapshot(w io.Writer) error {
	v, err := s.FreezeSnapshot()
	if err != nil {
		return err
	}
	defer v.Release()
	return v.WriteSnapshot(w)
}

var _ replication.SnapshotFreezer = (*Set)(nil)

// setView is the Set's state at a FreezeSnapshot, written later (WriteSnapshot) while changes
// are applied: per entry its layout, per index its layout, a View of an HNSW index (nothing
// copied: hnsw.View; ivf.View) or the file of any other kind (written at the freeze), its left-out
// rows; the entry's INCLUDE and held values (frozenIncludes: a few words per row copied).
// (An IVF twin's part is an ivf.View: its node keys copied, its cells copy-on-write.)
type setView struct {
	entries []entryView
}

type entryView struct {
	info     replication.TargetInfo
	indexes  []indexView
	includes *frozenIncludes
}

type indexView struct {
	ix       *Index
	hnsw     *hnsw.View // or
	ivf      *ivf.View  // or
	file     []byte     // another kind's file, written at the freeze
	unknown  bool       // leftOut: whether the rows left out are unknown, and their keys
	leftKeys []ann.Key
}

// FreezeSnapshot implements replication.SnapshotFreezer. Replication calls it between
// transactions: pending bulk rows are inserted, and the state taken.
func (s *Set) FreezeSnapshot() (replication.SnapshotView, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := &setView{}
	for _, en := range s.entries {
		ev := entryView{info: en.info}
		for _, ix := range en.indexes {
			if err := ix.flush(); err != nil {
				v.Release()
				return nil, fmt.Errorf("live: snapshot %s: %w", ix.Source, err)
			}
			iv := indexView{ix: ix}
			var err error
			switch x := ix.index.(type) {
			case *hnsw.Index:
				iv.hnsw, err = x.Freeze()
			case *ivf.Index:
				iv.ivf = x.Freeze()
			default:
				var b bytes.Buffer
				err = ix.index.Save(&b)
				iv.file = b.Bytes()
			}
			if err != nil {
				v.Release()
				return nil, fmt.Errorf("live: snapshot %s: %w", ix.Source, err)
			}
			iv.unknown, iv.leftKeys = ix.leftOut()
			ev.indexes = append(ev.indexes, iv)
		}
		ev.includes = freezeIncludes(en)
		v.entries = append(v.entries, ev)
	}
	return v, nil
}

// Release implements replication.SnapshotView: the HNSW views still open end.
func (v *setView) Release() {
	for _, ev := range v.entries {
		for _, iv := range ev.indexes {
			iv.release()
		}
	}
}

// release ends the index's view, if it has one (idempotent).
func (iv indexView) release() {
	if iv.hnsw != nil {
		iv.hnsw.Release()
	}
	if iv.ivf != nil {
		iv.ivf.Release()
	}
}

// WriteSnapshot implements replication.SnapshotView. Each HNSW view is released once written.
func (v *setView) WriteSnapshot(w io.Writer) error {
	e := fileformat.NewEncoderWith(w, "LIVE", snapshotVersion, fileformat.CRC32C)
	e.U64(uint64(len(v.entries)))
	for _, ev := range v.entries {
		t := ev.info
		// A composite key's columns and types are joined by NUL (a name or type holds none).
		var names, types []string
		for _, k := range t.Key {
			names, types = append(names, k.Name), append(types, k.Type)
		}
		for _, str := range []string{t.Schema, t.Table, t.Column, strings.Join(names, "\x00"), strings.Join(types, "\x00")} {
			e.String(str)
		}
		e.U32(t.OID)
		e.U64(uint64(t.Kind))
		e.U64(uint64(t.Dims))
		e.U64(uint64(len(ev.indexes)))
		for _, iv := range ev.indexes {
			ix := iv.ix
			e.String(ix.Source)
			e.String(ix.kind)
			e.String(string(ix.expr))
			e.U64(uint64(ix.truncate))
			e.U64(uint64(ix.Metric))
			e.Bool(ix.Exact)
			e.U64(uint64(ix.Oversample * 1000))
			cw := chunkWriter{e}
			var err error
			switch {
			case iv.hnsw != nil:
				err = iv.hnsw.Write(cw)
			case iv.ivf != nil:
				err = iv.ivf.Write(cw)
			default:
				_, err = cw.Write(iv.file)
			}
			iv.release()
			if err != nil {
				return fmt.Errorf("live: snapshot %s: %w", ix.Source, err)
			}
			cw.end()
			e.Bool(iv.unknown)
			e.U64(uint64(len(iv.leftKeys)))
			for _, k := range iv.leftKeys {
				e.Binary(k)
			}
		}
		ev.includes.write(e)
	}
	if err := e.Finish(); err != nil {
		return fmt.Errorf("live: snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot implements replication.Snapshotter: it replaces the Set's state with the file's
// once the whole payload is read and its checksum verified.
func (s *Set) ReadSnapshot(r io.Reader) error {
	d, err := fileformat.NewReader(r, "LIVE", snapshotVersion)
	if err == nil && d.Version != snapshotVersion {
		err = fmt.Errorf("format %d", d.Version)
	}
	if err != nil {
		return fmt.Errorf("live: snapshot: not a live-index snapshot of format %d: %w", snapshotVersion, err)
	}
	entries := map[replication.Target]*entry{}
	n := d.Uint(1 << 20)
	for range n {
		e, err := readEntry(d, s.opts)
		if err != nil {
			retireEntries(entries)
			return err
		}
		if d.Err() != nil {
			if e != nil {
				retireEntries(map[replication.Target]*entry{e.info.Target: e})
			}
			break
		}
		entries[e.info.Target] = e
	}
	if err := d.End(); err != nil {
		retireEntries(entries)
		return fmt.Errorf("live: snapshot: %w", err)
	}
	s.replaceEntries(entries)
	return nil
}

// readEntry reads one entry written by WriteSnapshot. Decode errors stay in d.
func readEntry(d *fileformat.Decoder, opts Options) (_ *entry, err error) {
	var loaded []*Index // retired (their memory released) if the entry fails
	defer func() {
		if err != nil {
			for _, ix := range loaded {
				ix.retire()
			}
		}
	}()
	var strs [5]string
	for i := range strs {
		strs[i] = d.String()
	}
	reloid := d.U32()
	kind := d.Uint(16)
	dims := d.Uint(ann.MaxDims)
	nix := d.Uint(16)
	if d.Err() != nil {
		return nil, nil
	}
	info := replication.TargetInfo{
		Target: replication.Target{Schema: strs[0], Table: strs[1], Column: strs[2]},
		OID:    reloid,
		Kind:   catalog.VectorType(kind), Dims: int(dims),
	}
	names, types := strings.Split(strs[3], "\x00"), strings.Split(strs[4], "\x00")
	if len(names) != len(types) {
		return nil, fmt.Errorf("live: snapshot: key %q of types %q", strs[3], strs[4])
	}
	for i := range names {
		info.Key = append(info.Key, catalog.Column{Name: names[i], Type: types[i]})
	}
	kf, err := keyFieldsOf(info.Key)
	if err != nil {
		return nil, fmt.Errorf("live: snapshot: %w", err)
	}
	e := &entry{info: info, keyKind: kf.kind}
	for range nix {
		src := d.String()
		kind := d.String()
		expr := catalog.IndexExpr(d.String())
		truncate := d.Uint(dims)
		metric := ann.Metric(d.Uint(uint64(ann.Hamming)))
		exact := d.Bool()
		over := d.Uint(100000)
		if d.Err() != nil {
			return e, nil
		}
		data := &chunkReader{d: d}
		cm, _ := catalog.MetricForOperator(metric.String())
		ix := &Index{Schema: info.Schema, Table: info.Table, Column: info.Column, RelOID: info.OID,
			Metric: metric, Source: src,
			Exact: exact, Oversample: float64(over) / 1000, trained: true,
			layout: layout{kind: kind, dims: int(dims), truncate: int(truncate), halfvec: info.Kind == catalog.TypeHalfvec, expr: expr, sparse: info.Kind == catalog.TypeSparsevec}}
		kf.set(ix)

		ci := catalog.Index{Name: src, Column: info.Column, Metric: cm, Valid: true, Expression: expr != "", Expr: expr}
		if expr != "" {
			ci.ExprDims = int(dims)
		}
		if strings.HasPrefix(kind, "ivf") {
			x, err := ivf.Load(data, ivf.Config{})
			if err != nil {
				return nil, fmt.Errorf("live: snapshot %s: %w", src, err)
			}
			cfg := x.Config()
			ix.index, ix.lists, ix.probes = x, cfg.Lists, cfg.Probes
			ci.Method, ci.Lists = "ivfflat", cfg.Lists
		} else {
			x, err := hnsw.Load(data, hnsw.Config{VectorDir: opts.VectorDir})
			if err != nil {
				return nil, fmt.Errorf("live: snapshot %s: %w", src, err)
			}
			cfg := x.Config()
			ix.index = x
			ci.Method, ci.M, ci.EfConstruction = "hnsw", cfg.M, cfg.EFConstruction
		}
		loaded = append(loaded, ix)
		ix.readLeftOut(d)
		if got, want := ix.index.Dims(), cmp.Or(ix.truncate, ix.dims); got != want || ix.index.Metric() != engineMetric(metric) {
			return nil, fmt.Errorf("live: snapshot %s: index of %d dimensions (%v), want %d (%v)", src, got, ix.index.Metric(), want, metric)
		}
		info.Indexes = append(info.Indexes, ci)
		e.indexes = append(e.indexes, ix)
	}
	e.info = info
	readIncludes(d, e, opts.Cover)
	return e, nil
}

// leftOut returns the rows the index leaves out: whether they are unknown, and their keys.
func (ix *Index) leftOut() (bool, []ann.Key) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	keys := make([]ann.Key, 0, len(ix.left.keys))
	for k := range ix.left.keys {
		keys = append(keys, k)
	}
	return ix.left.unknown, keys
}

// readLeftOut reads what writeLeftOut wrote; errors stay in d.
func (ix *Index) readLeftOut(d *fileformat.Decoder) {
	ix.left.unknown = d.Bool()
	n := d.Uint(maxLeftOut)
	for i := uint64(0); i < n && d.Err() == nil; i++ {
		var k ann.Key
		d.Binary(&k)
		if d.Err() == nil {
			ix.left.add(k)
		}
	}
}
