package replication

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/vecgate/vecgate/catalog"
)

// retireRecorder is a Memory that records retired targets.
type retireRecorder struct {
	*Memory
	retired []Target
}

func (r *retireRecorder) Retire(t Target) { r.retired = append(r.retired, t) }

// TestRelationReplacedOrRenamed: the twins of public.items were loaded from relation 100. A
// Relation message for relation 100 as public.items maps it; one for another relation under that
// name (DROP + CREATE, a rename swap) or for relation 100 under another name (a rename) retires
// the twins and asks for a resynchronisation.
func TestRelationReplacedOrRenamed(t *testing.T) {
	key := catalog.Column{Num: 1, Name: "id", TypeOID: 20, Type: "bigint"}
	vec := catalog.VectorColumn{Column: catalog.Column{Num: 2, Name: "emb", TypeOID: 9000, TypMod: 3}, Kind: catalog.TypeVector, Dims: 3}
	target := Target{Schema: "public", Table: "items", Column: "emb"}
	cols := []relColumn{{key: true, name: "id", typeOID: 20, typMod: -1}, {name: "emb", typeOID: 9000, typMod: 3}}
	for _, c := range []struct {
		name        string
		relid       uint32
		schema, rel string
		retire      bool
	}{
		{"same relation, same name", 100, "public", "items", false},
		{"another relation under the name", 101, "public", "items", true},
		{"the relation renamed", 100, "public", "items_old", true},
		{"the relation moved to another schema", 100, "archive", "items", true},
		{"another table", 102, "public", "other", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			app := &retireRecorder{Memory: NewMemory()}
			s := &Stream{
				cfg: Config{Applier: app}, log: slog.New(slog.DiscardHandler), advanced: make(chan struct{}),
				rels: map[uint32]*relInfo{}, relMsgs: map[uint32]msgRelation{},
				tables: map[string]*tableTarget{"public.items": {
					table:   catalog.Table{OID: 100, Schema: "public", Name: "items", Key: []catalog.Column{key}, Vectors: []catalog.VectorColumn{vec}},
					vectors: []catalog.VectorColumn{vec}, targets: []Target{target},
				}},
			}
			s.status.State = StateStreaming
			epoch := s.CatalogEpoch()
			err := s.relation(msgRelation{relid: c.relid, namespace: c.schema, name: c.rel, replident: 'd', columns: cols})
			if c.retire {
				if !errors.Is(err, errResync) || len(app.retired) != 1 || app.retired[0] != target {
					t.Fatalf("err %v, retired %v: want a resynchronisation and %s retired", err, app.retired, target)
				}
				if s.Ready() || s.CatalogEpoch() == epoch {
					t.Fatalf("still ready (%v) or the catalog epoch did not move", s.Ready())
				}
				return
			}
			if err != nil || len(app.retired) != 0 {
				t.Fatalf("err %v, retired %v", err, app.retired)
			}
			if _, mapped := s.rels[c.relid]; mapped != (c.relid == 100) {
				t.Fatalf("relation %d mapped: %v", c.relid, mapped)
			}
		})
	}
}
