package live

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/replication"
)

// TestIncludeMemory measures the heap an include store takes per row (two columns: an integer
// with 1,000 values, a text with 3) and keeps it bounded.
func TestIncludeMemory(t *testing.T) {
	inc := newIncludes(replication.TargetInfo{Include: []string{"tenant_id", "category"}, IncludeTypes: []string{"integer", "text"}})
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
	t.Logf("%.1f bytes per row (2 columns, %d rows)", per, n)
	if per > 150 {
		t.Errorf("%.1f bytes per row", per)
	}
	runtime.KeepAlive(inc)
}
