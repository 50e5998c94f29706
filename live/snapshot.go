package live

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/replication"
)

// Snapshots: replication writes the Set's state to disk with its LSN (the file around it carries
// the version, slot, LSN and a checksum) and reads it back at start, so a restart resumes from
// the slot instead of reloading every table. The Set's part is, per target, what it needs to
// rebuild the entry and each index: its layout (kind, Matryoshka dimensions), then the index in
// its own file format (HNSW or IVF).

var _ replication.Snapshotter = (*Set)(nil)

// 4: INCLUDE values after each entry's indexes; 5: the table's OID after the key type; 6: each
// index's left-out rows after its data.
const snapshotMagic = "vecgate-live-6\n"

// WriteSnapshot implements replication.Snapshotter. Replication calls it between transactions.
func (s *Set) WriteSnapshot(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	bw := bufio.NewWriter(w)
	bw.WriteString(snapshotMagic)
	putUint(bw, uint64(len(s.entries)))
	var buf bytes.Buffer
	for _, e := range s.entries {
		t := e.info
		for _, str := range []string{t.Schema, t.Table, t.Column, t.Key[0].Name, t.Key[0].Type} {
			putString(bw, str)
		}
		putUint(bw, uint64(t.OID))
		putUint(bw, uint64(t.Kind))
		putUint(bw, uint64(t.Dims))
		putUint(bw, uint64(len(e.indexes)))
		for _, ix := range e.indexes {
			if err := ix.flush(); err != nil {
				return fmt.Errorf("live: snapshot %s: %w", ix.Source, err)
			}
			putString(bw, ix.Source)
			putString(bw, ix.kind)
			putUint(bw, uint64(ix.truncate))
			putUint(bw, uint64(ix.Metric))
			exact := uint64(0)
			if ix.Exact {
				exact = 1
			}
			putUint(bw, exact)
			putUint(bw, uint64(ix.Oversample*1000))
			buf.Reset()
			if err := ix.index.Save(&buf); err != nil {
				return fmt.Errorf("live: snapshot %s: %w", ix.Source, err)
			}
			putUint(bw, uint64(buf.Len()))
			bw.Write(buf.Bytes())
			if err := ix.writeLeftOut(bw); err != nil {
				return fmt.Errorf("live: snapshot %s: %w", ix.Source, err)
			}
		}
		if err := writeIncludes(bw, e); err != nil {
			return fmt.Errorf("live: snapshot %s: %w", t.Target, err)
		}
	}
	return bw.Flush()
}

// ReadSnapshot implements replication.Snapshotter: it replaces the Set's state with the file's.
func (s *Set) ReadSnapshot(r io.Reader) error {
	br := bufio.NewReader(r)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return errors.New("live: snapshot: not a live-index snapshot")
	}
	n, err := getUint(br, 1<<20)
	if err != nil {
		return err
	}
	entries := map[replication.Target]*entry{}
	for range n {
		var strs [5]string
		for i := range strs {
			if strs[i], err = getString(br); err != nil {
				return err
			}
		}
		reloid, err0 := getUint(br, 1<<32-1)
		kind, err1 := getUint(br, 16)
		dims, err2 := getUint(br, ann.MaxDims)
		nix, err3 := getUint(br, 16)
		if err := errors.Join(err0, err1, err2, err3); err != nil {
			return err
		}
		info := replication.TargetInfo{
			Target: replication.Target{Schema: strs[0], Table: strs[1], Column: strs[2]},
			OID:    uint32(reloid),
			Kind:   catalog.VectorType(kind), Dims: int(dims),
			Key: []catalog.Column{{Name: strs[3], Type: strs[4]}},
		}
		e := &entry{info: info}
		var ok bool
		if e.keyKind, _, ok = keyKind(strs[4]); !ok {
			return fmt.Errorf("live: snapshot: key type %q", strs[4])
		}
		for range nix {
			src, err := getString(br)
			if err != nil {
				return err
			}
			kind, err := getString(br)
			if err != nil {
				return err
			}
			truncate, err := getUint(br, dims)
			if err != nil {
				return err
			}
			m, err := getUint(br, uint64(ann.Hamming))
			if err != nil {
				return err
			}
			exact, err := getUint(br, 1)
			if err != nil {
				return err
			}
			over, err := getUint(br, 100000)
			if err != nil {
				return err
			}
			size, err := getUint(br, 1<<36)
			if err != nil {
				return err
			}
			data := make([]byte, size)
			if _, err := io.ReadFull(br, data); err != nil {
				return fmt.Errorf("live: snapshot %s: %w", src, err)
			}
			metric := ann.Metric(m)
			cm, _ := catalog.MetricForOperator(metric.String())
			ix := &Index{Schema: info.Schema, Table: info.Table, Column: info.Column, RelOID: info.OID,
				Metric: metric, Key: strs[3], KeyType: strs[4], Source: src,
				Exact: exact == 1, Oversample: float64(over) / 1000, trained: true,
				layout: layout{kind: kind, dims: int(dims), truncate: int(truncate)}}

			ci := catalog.Index{Name: src, Column: info.Column, Metric: cm, Valid: true}
			if strings.HasPrefix(kind, "ivf") {
				x, err := ivf.Load(bytes.NewReader(data), ivf.Config{})
				if err != nil {
					return fmt.Errorf("live: snapshot %s: %w", src, err)
				}
				cfg := x.Config()
				ix.index, ix.lists, ix.probes = x, cfg.Lists, cfg.Probes
				ci.Method, ci.Lists = "ivfflat", cfg.Lists
			} else {
				x, err := hnsw.Load(bytes.NewReader(data), hnsw.Config{})
				if err != nil {
					return fmt.Errorf("live: snapshot %s: %w", src, err)
				}
				cfg := x.Config()
				ix.index = x
				ci.Method, ci.M, ci.EfConstruction = "hnsw", cfg.M, cfg.EFConstruction
			}
			if err := ix.readLeftOut(br); err != nil {
				return fmt.Errorf("live: snapshot %s: %w", src, err)
			}
			if got, want := ix.index.Dims(), cmp.Or(ix.truncate, ix.dims); got != want || ix.index.Metric() != metric {
				return fmt.Errorf("live: snapshot %s: index of %d dimensions (%v), want %d (%v)", src, got, ix.index.Metric(), want, metric)
			}
			info.Indexes = append(info.Indexes, ci)
			e.indexes = append(e.indexes, ix)
		}
		e.info = info
		if err := readIncludes(br, e); err != nil {
			return err
		}
		entries[info.Target] = e
	}
	s.mu.Lock()
	old := s.entries
	s.entries = entries
	s.mu.Unlock()
	for _, e := range old {
		for _, ix := range e.indexes {
			ix.retire()
		}
	}
	return nil
}

func putUint(w *bufio.Writer, v uint64) {
	var b [binary.MaxVarintLen64]byte
	w.Write(b[:binary.PutUvarint(b[:], v)])
}

func putString(w *bufio.Writer, str string) {
	putUint(w, uint64(len(str)))
	w.WriteString(str)
}

func getUint(r *bufio.Reader, max uint64) (uint64, error) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, fmt.Errorf("live: snapshot: %w", err)
	}
	if v > max {
		return 0, fmt.Errorf("live: snapshot: value %d out of range", v)
	}
	return v, nil
}

func getString(r *bufio.Reader) (string, error) {
	n, err := getUint(r, 1<<16)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("live: snapshot: %w", err)
	}
	return string(b), nil
}

// writeLeftOut appends the rows the index leaves out (leftOut): whether they are unknown, then
// their keys.
func (ix *Index) writeLeftOut(w *bufio.Writer) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	unknown := uint64(0)
	if ix.left.unknown {
		unknown = 1
	}
	putUint(w, unknown)
	putUint(w, uint64(len(ix.left.keys)))
	var kb []byte
	for k := range ix.left.keys {
		var err error
		if kb, err = k.AppendBinary(kb[:0]); err != nil {
			return err
		}
		putBytes(w, kb)
	}
	return nil
}

// readLeftOut reads what writeLeftOut wrote.
func (ix *Index) readLeftOut(r *bufio.Reader) error {
	unknown, err := getUint(r, 1)
	if err != nil {
		return err
	}
	ix.left.unknown = unknown == 1
	n, err := getUint(r, maxLeftOut)
	if err != nil {
		return err
	}
	for range n {
		kb, err := getBytes(r)
		if err != nil {
			return err
		}
		k, _, err := ann.DecodeKey(kb)
		if err != nil {
			return err
		}
		ix.left.add(k)
	}
	return nil
}
