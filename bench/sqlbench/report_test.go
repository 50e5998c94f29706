package sqlbench

import (
	"encoding/xml"
	"math"
	"testing"
)

// TestRatios: vecgate is compared with the fastest pgvector row at equal-or-better recall,
// or with pgvector's best recall when it never gets there.
func TestRatios(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Method: "pgvector", EF: 10, Clients: 1, Recall: 0.80, QPS: 1000, P50Micros: 100, BuildSeconds: 10, BytesPerVector: 1000},
		{Method: "pgvector", EF: 40, Clients: 1, Recall: 0.95, QPS: 500, P50Micros: 200, BuildSeconds: 10, BytesPerVector: 1000},
		{Method: "pgvector", EF: 80, Clients: 1, Recall: 0.98, QPS: 300, P50Micros: 300, BuildSeconds: 10, BytesPerVector: 1000},
		{Method: "vecgate", Clients: 1, Recall: 0.95, QPS: 1500, P50Micros: 100, BuildSeconds: 5, BytesPerVector: 500},
		{Method: "pgvector", EF: 10, Clients: 16, Recall: 0.80, QPS: 900},
		{Method: "pgvector", EF: 40, Clients: 16, Recall: 0.90, QPS: 400},
		{Method: "vecgate", Clients: 16, Recall: 0.99, QPS: 800},
	}}
	got := ratios(rep)
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	if r := got[0]; r.PgvectorEF != 40 || !r.EqualRecall || r.QPS != 3 || r.P50 != 0.5 || r.Build != 0.5 || r.Bytes != 0.5 {
		t.Errorf("1 client: %+v", r)
	}
	if r := got[1]; r.PgvectorEF != 40 || r.EqualRecall || r.QPS != 2 {
		t.Errorf("16 clients: %+v", r)
	}
	if err := xml.Unmarshal([]byte(rep.SVG()), new(struct{})); err != nil {
		t.Fatalf("SVG: %v", err)
	}
}

// TestQPSAt: pgvector's QPS at a recall between two ef values is interpolated (log QPS
// linear in recall) on its frontier; a row slower than a higher-recall row is left out.
func TestQPSAt(t *testing.T) {
	rows := []Row{
		{Method: "pgvector", EF: 10, Clients: 1, Recall: 0.80, QPS: 1000},
		{Method: "pgvector", EF: 20, Clients: 1, Recall: 0.90, QPS: 250}, // noise: slower than ef 40
		{Method: "pgvector", EF: 40, Clients: 1, Recall: 0.95, QPS: 500},
		{Method: "pgvector", EF: 80, Clients: 1, Recall: 0.98, QPS: 300},
		{Method: "vecgate", Clients: 1, Recall: 0.99, QPS: 9999},
		{Method: "pgvector", EF: 40, Clients: 16, Recall: 0.95, QPS: 5000},
	}
	for _, c := range []struct {
		recall, want float64
	}{
		{0.70, 1000},                   // below the curve: the fastest row
		{0.80, 1000},                   // on a point
		{0.95, 500},                    // on a point
		{0.965, math.Sqrt(500 * 300)},  // halfway between ef 40 and ef 80
		{0.875, math.Sqrt(1000 * 500)}, // halfway between ef 10 and ef 40 (ef 20 is off the frontier)
		{0.98, 300},
		{0.99, 0}, // never reached
	} {
		if got := qpsAt(rows, 1, c.recall); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("recall %v: %v, want %v", c.recall, got, c.want)
		}
	}
}
