package indexdef_test

import (
	"reflect"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/indexdef"
)

// TestOptionsRoundTrip: every option survives its JSON form, and the form is vecgate.indexes'.
func TestOptionsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		spec indexdef.Spec
		json string
	}{
		{indexdef.Spec{}, `{}`},
		{indexdef.Spec{M: 24, EFConstruction: 100}, `{"m":24,"ef_construction":100}`},
		{indexdef.Spec{Lists: 20, Dims: 8, Quantizer: "pq"}, `{"lists":20,"dims":8,"quantizer":"pq"}`},
		{indexdef.Spec{Quantizer: "sq8", Oversample: 2.5, Include: []string{"tenant_id", "Lang"}},
			`{"quantizer":"sq8","oversample":2.5,"include":["tenant_id","Lang"]}`},
	} {
		tc.spec.Schema, tc.spec.Name, tc.spec.Method, tc.spec.Metric = "public", "x", "hnsw", ann.Cosine
		b, err := tc.spec.EncodeOptions()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.json {
			t.Errorf("encode %+v: %s, want %s", tc.spec, b, tc.json)
		}
		got := indexdef.Spec{Schema: "public", Name: "x", Method: "hnsw", Metric: ann.Cosine}
		if err := got.DecodeOptions(b); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, tc.spec) {
			t.Errorf("round trip of %s: %+v, want %+v", b, got, tc.spec)
		}
	}
}

// TestDecodeOptions: what Postgres hands back (jsonb's text, spaces and all) decodes; "none" is
// no quantizer; unknown keys are ignored; a known key of the wrong type is an error that leaves
// the spec as it was.
func TestDecodeOptions(t *testing.T) {
	var s indexdef.Spec
	if err := s.DecodeOptions([]byte(`{"m": 8, "future": {"x": 1}, "quantizer": "none", "oversample": 3}`)); err != nil {
		t.Fatal(err)
	}
	if s.M != 8 || s.Quantizer != "" || s.Oversample != 3 {
		t.Fatalf("%+v", s)
	}
	for _, bad := range []string{`{"m": 16.0}`, `{"include": [1, 2]}`, `{"include": "a"}`, `[]`, `{"m": 8`} {
		before := s
		if err := s.DecodeOptions([]byte(bad)); err == nil {
			t.Errorf("%s decoded to %+v", bad, s)
		}
		if !reflect.DeepEqual(s, before) {
			t.Errorf("%s changed the spec to %+v", bad, s)
		}
	}
}

// TestIncludes: definitions become replication's column lists, each column once per table.
func TestIncludes(t *testing.T) {
	got := indexdef.Includes([]indexdef.Spec{
		{Schema: "public", Table: "docs", Include: []string{"tenant_id", "category"}},
		{Schema: "public", Table: "docs", Include: []string{"category", "lang"}},
		{Schema: "app", Table: "docs"},
	})
	want := map[string][]string{"public.docs": {"tenant_id", "category", "lang"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v", got)
	}
}
