package live_test

import (
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// TestStagePublishNarrow: a table's twins staged apart are not searched until Publish, while its
// old twin answers and takes changes; Publish replaces it; Narrow retires the twin of a dropped
// index and keeps the other; Discard leaves the set as it was.
func TestStagePublishNarrow(t *testing.T) {
	s := live.New(nil)
	old := info()
	if err := s.Reset([]replication.TargetInfo{old}); err != nil {
		t.Fatal(err)
	}
	load(t, s, 10, func(i int64) replication.Row { return row(i, float32(i), 0, 1) })

	// A cosine index added: the table's twins are staged with both.
	cm, _ := catalog.MetricForOperator("<=>")
	both := info()
	both.Indexes = append(both.Indexes, catalog.Index{Name: "items_cos", Column: "emb", Method: "hnsw", Metric: cm, M: 16, EfConstruction: 64, Valid: true})
	st, err := s.Stage([]replication.TargetInfo{both})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 12; i++ {
		if err := st.Upsert(target, row(i, float32(i), 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Upsert(target, row(11, 11, 0, 1)); err != nil { // the old twin takes changes meanwhile
		t.Fatal(err)
	}
	if _, ok := s.Lookup("public", "items", "emb", ann.Cosine); ok || !s.Loading("", "items") {
		t.Fatalf("a staged twin is searched before Publish (%v), or the table is not said to be loading", ok)
	}
	if ix, _ := s.Lookup("public", "items", "emb", ann.L2); ix == nil || ix.Len() != 11 {
		t.Fatalf("the old twin: %v", ix)
	}
	if err := st.Publish(); err != nil {
		t.Fatal(err)
	}
	l2, ok1 := s.Lookup("public", "items", "emb", ann.L2)
	cos, ok2 := s.Lookup("public", "items", "emb", ann.Cosine)
	if !ok1 || !ok2 || l2.Len() != 12 || cos.Len() != 12 || s.Loading("public", "items") {
		t.Fatalf("after Publish: L2 %v, cosine %v", ok1, ok2)
	}

	// The cosine index dropped: its twin alone is retired.
	s.Narrow([]replication.TargetInfo{old})
	if _, ok := s.Lookup("public", "items", "emb", ann.Cosine); ok {
		t.Fatal("the dropped index's twin still answers")
	}
	if ix, ok := s.Lookup("public", "items", "emb", ann.L2); !ok || ix != l2 {
		t.Fatal("Narrow replaced or dropped the remaining twin")
	}

	// A staged load abandoned changes nothing.
	st, err = s.Stage([]replication.TargetInfo{both})
	if err != nil {
		t.Fatal(err)
	}
	st.Discard()
	if ix, ok := s.Lookup("public", "items", "emb", ann.L2); !ok || ix != l2 || len(s.Indexes()) != 1 || s.Loading("public", "items") {
		t.Fatal("Discard changed the set")
	}
}
