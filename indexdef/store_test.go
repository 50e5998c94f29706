package indexdef_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/migrations"
)

func store(t *testing.T) (context.Context, indexdef.DB) {
	dsn := pgtest.NewDB(t)
	ctx := t.Context()
	if err := migrations.Up(ctx, dsn, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return ctx, pgtest.Connect(t, dsn)
}

// TestStoreRoundTrip: what Insert records, Load gives back, oldest first; Insert does not
// replace a recorded index; Delete forgets it.
func TestStoreRoundTrip(t *testing.T) {
	ctx, db := store(t)
	specs := []indexdef.Spec{
		{Schema: "public", Name: "a", Table: "items", Column: "emb", Method: "hnsw", Metric: ann.Cosine,
			Mode: indexdef.ModeMirror, M: 8, EFConstruction: 32, Quantizer: "sq8", Oversample: 2.5, Include: []string{"tenant_id"}},
		{Schema: "app", Name: "b", Table: "docs", Column: "e", Method: "ivfflat", Metric: ann.L2,
			Mode: indexdef.ModeOffload, Lists: 20, Dims: 8, Quantizer: "pq"},
	}
	for _, s := range specs {
		if ok, err := indexdef.Insert(ctx, db, s); err != nil || !ok {
			t.Fatalf("insert %s: %v %v", s.Name, ok, err)
		}
	}
	again := specs[0]
	again.Table = "other"
	if ok, err := indexdef.Insert(ctx, db, again); err != nil || ok {
		t.Fatalf("second insert of a: %v %v", ok, err)
	}
	got, skipped, err := indexdef.Load(ctx, db)
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	if !reflect.DeepEqual(got, specs) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", got, specs)
	}
	if err := indexdef.Delete(ctx, db, "public", "a"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := indexdef.Load(ctx, db); err != nil || len(got) != 1 || got[0].Name != "b" {
		t.Fatalf("after delete: %+v %v", got, err)
	}
}

// TestLoadReportsBadRows: rows that vecgate.indexes' checks let through but that are no
// definition vecgate can use (written by hand, or by another version) are reported by name and
// left out; the good rows still load.
func TestLoadReportsBadRows(t *testing.T) {
	ctx, db := store(t)
	good := indexdef.Spec{Schema: "public", Name: "good", Table: "items", Column: "emb", Method: "hnsw",
		Metric: ann.L2, Mode: indexdef.ModeMirror, M: 16}
	if _, err := indexdef.Insert(ctx, db, good); err != nil {
		t.Fatal(err)
	}
	for name, row := range map[string][2]string{
		"float_m":     {"<->", `{"m": 16.0}`},
		"int_include": {"<->", `{"include": [1, 2]}`},
		"jaccard":     {"<%>", `{}`},
	} {
		if _, err := db.Exec(ctx, `INSERT INTO vecgate.indexes (schema_name, name, table_name, column_name, method, metric, options)
			VALUES ('public', $1, 'items', 'emb', 'hnsw', $2, $3::jsonb)`, name, row[0], row[1]); err != nil {
			t.Fatal(name, err)
		}
	}
	got, skipped, err := indexdef.Load(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []indexdef.Spec{good}) {
		t.Fatalf("loaded %+v", got)
	}
	names := map[string]bool{}
	for _, e := range skipped {
		names[e.Name] = true
		if e.Schema != "public" || e.Err == nil {
			t.Errorf("%#v", e)
		}
		if !strings.Contains(e.Error(), "public."+e.Name) {
			t.Errorf("error does not name the index: %v", e)
		}
		if e.Name == "jaccard" && !errors.Is(e, ann.ErrUnknownMetric) {
			t.Errorf("jaccard: %v", e)
		}
	}
	if len(skipped) != 3 || !names["float_m"] || !names["int_include"] || !names["jaccard"] {
		t.Fatalf("skipped %v", skipped)
	}
}
