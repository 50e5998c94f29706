package live

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/replication"
)

// TestIncludeMemory measures the heap an include store takes per row (two columns: an integer
// with 1,000 values, a text with 3) and keeps it bounded.
func TestIncludeMemory(t *testing.T) {
	inc := newIncludes(replication.TargetInfo{Include: []string{"tenant_id", "category"}, IncludeTypes: []string{"integer", "text"}}, Cover{})
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	const n = 200000
	cats := [][]byte{[]byte("news"), []byte("blog"), []byte("docs")}
	for i := range n {
		row := []replication.Datum{{Value: binary.BigEndian.AppendUint32(nil, uint32(i%1000))}, {Value: cats[i%3]}}
		if err := inc.upsert(ann.IntKey(int64(i)), nil, row); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
	counted := float64(inc.bytes()) / n
	t.Logf("%.1f bytes per row (2 columns, %d rows); bytes() counts %.1f", per, n, counted)
	if per > 150 {
		t.Errorf("%.1f bytes per row", per)
	}
	// The count status and metrics report is within a quarter of the heap really taken.
	if counted < 0.75*per || counted > 1.25*per {
		t.Errorf("bytes() counts %.1f bytes per row; the heap grew by %.1f", counted, per)
	}
	runtime.KeepAlive(inc)
}

// TestIncludeBytesCountedOnce: a table's INCLUDE values are counted in its first index's
// MemoryBytes, not in every index sharing them.
func TestIncludeBytesCountedOnce(t *testing.T) {
	info := replication.TargetInfo{Include: []string{"tenant_id"}, IncludeTypes: []string{"integer"}}
	var e entry
	e.info = info
	for range 2 {
		x, err := flat.New(flat.Config{Metric: ann.L2, Dims: 2})
		if err != nil {
			t.Fatal(err)
		}
		e.indexes = append(e.indexes, &Index{index: x})
	}
	attachIncludes(&e, Cover{})
	for i := range 1000 {
		if err := e.inc.upsert(ann.IntKey(int64(i)), nil, []replication.Datum{{Value: binary.BigEndian.AppendUint32(nil, uint32(i%7))}}); err != nil {
			t.Fatal(err)
		}
	}
	first, second := e.indexes[0], e.indexes[1]
	inc := e.inc.bytes()
	if inc < 1000*40 {
		t.Fatalf("include store counts %d bytes for 1,000 rows", inc)
	}
	if got, want := first.MemoryBytes(), first.index.MemoryBytes()+inc; got != want {
		t.Errorf("first index: %d bytes, want %d (its own and the include store's)", got, want)
	}
	if got, want := second.MemoryBytes(), second.index.MemoryBytes(); got != want {
		t.Errorf("second index: %d bytes, want its own %d", got, want)
	}
}
