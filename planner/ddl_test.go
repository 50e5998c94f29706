package planner_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/planner"
)

func TestIndexOf(t *testing.T) {
	for sql, want := range map[string]string{
		`CREATE INDEX items_hnsw ON items USING hnsw (emb vector_l2_ops) WITH (m = 24, ef_construction = 100)`:            `public.items_hnsw items.emb hnsw <-> mirror {"m":24,"ef_construction":100} forward=CREATE INDEX items_hnsw ON items USING hnsw (emb vector_l2_ops) WITH (m = 24, ef_construction = 100)`,
		`CREATE INDEX s ON app.items USING hnsw (emb vector_cosine_ops) WITH (m = 8, quantizer = 'sq8', mode = 'mirror')`: `app.s items.emb hnsw <=> mirror {"m":8,"quantizer":"sq8"} forward=CREATE INDEX s ON app.items USING hnsw (emb vector_cosine_ops) WITH (m=8)`,
		`CREATE INDEX o ON items USING hnsw (emb vector_ip_ops) WITH (mode = offload, oversample = 3)`:                    `public.o items.emb hnsw <#> offload {"oversample":3} forward=`,
		`CREATE INDEX ON items USING ivfflat (emb vector_l1_ops)`:                                                         `public. items.emb ivfflat <+> mirror {} forward=CREATE INDEX ON items USING ivfflat (emb vector_l1_ops)`,
		`CREATE INDEX x ON items (id)`: `<nil>`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (quantizer = 'binary')`:                                  `error 0A000: vecgate: quantizer "binary" needs USING ivfflat (HNSW indexes take none or sq8)`,
		`CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists = 20, quantizer = pq, dims = 8)`:               `public.x items.emb ivfflat <-> mirror {"lists":20,"dims":8,"quantizer":"pq"} forward=CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists=20)`,
		`CREATE INDEX x ON items USING ivfflat (emb vector_cosine_ops) WITH (quantizer = binary, mode = offload)`:             `public.x items.emb ivfflat <=> offload {"quantizer":"binary"} forward=`,
		`CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (quantizer = 'lvq')`:                                  `error 22023: vecgate: invalid value for option "quantizer": "lvq" (none, sq8, pq, binary)`,
		`CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists = 0, mode = offload)`:                          `error 22023: value 0 out of bounds for option "lists" (Valid values are between "1" and "32768".)`,
		`CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists = 0)`:                                          `public.x items.emb ivfflat <-> mirror {} forward=CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists = 0)`,
		`CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists = 0, quantizer = sq8)`:                         `public.x items.emb ivfflat <-> mirror {"quantizer":"sq8"} forward=CREATE INDEX x ON items USING ivfflat (emb vector_l2_ops) WITH (lists=0)`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (m)`:                                                     `public.x items.emb hnsw <-> mirror {} forward=CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (m)`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (mode = offload, m = 1.5e1, ef_construction = ' 0x20 ')`: `public.x items.emb hnsw <-> offload {"m":15,"ef_construction":32} forward=`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (mode = offload, m = 40)`:                                `error 22023: ef_construction must be greater than or equal to 2 * m`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (mode = offload, m = 'X')`:                               `error 22023: invalid value for integer option "m": X`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (mode = offload, lists = 4)`:                             `error 22023: unrecognized parameter "lists"`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (m = 8, mode = offload, m = 8)`:                          `error 22023: parameter "m" specified more than once`,
		`CREATE INDEX x ON items USING hnsw (h halfvec_l2_ops) WITH (quantizer = sq8)`:                                        `error 0A000: vecgate: operator class halfvec_l2_ops is not supported for live indexes`,
		`CREATE INDEX x ON items USING hnsw (h halfvec_l2_ops)`:                                                               `<nil>`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (dims = 0)`:                                              `error 22023: vecgate: invalid value for option "dims": "0" (1 to the column's dimensions - 1)`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (dims = 'half')`:                                         `error 22023: vecgate: invalid value for option "dims": "half" (1 to the column's dimensions - 1)`,
		`CREATE INDEX x ON items USING hnsw (emb vector_l2_ops) WITH (mode = 'elsewhere')`:                                    `error 22023: vecgate: invalid value for option "mode": "elsewhere" (mirror or offload)`,
		`CREATE INDEX x ON items USING hnsw ((emb::halfvec(3)) halfvec_l2_ops) WITH (mode = offload)`:                         `error 0A000: vecgate: options apply to an index on a plain column with an operator class`,
	} {
		d, err := planner.IndexOf(sql)
		var got string
		switch {
		case err != nil:
			var e *pgconn.PgError
			errors.As(err, &e)
			got = fmt.Sprintf("error %s: %s", e.Code, e.Message)
			if e.Detail != "" {
				got += " (" + e.Detail + ")"
			}
		case d == nil:
			got = "<nil>"
		default:
			got = fmt.Sprintf("%s.%s %s.%s %s %s %s %v forward=%s", d.Schema, d.Name, d.Table, d.Column, d.Method, d.Metric, d.Mode, opts(t, d.Spec), d.Forward)
		}
		if got != want {
			t.Errorf("%s\n got: %s\nwant: %s", sql, got, want)
		}
	}
}

func opts(t *testing.T, s indexdef.Spec) string {
	b, err := s.EncodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDropIndexOf(t *testing.T) {
	got, ok := planner.DropIndexOf(`DROP INDEX IF EXISTS a, s.b`)
	if !ok || fmt.Sprint(got) != "[[public a] [s b]]" {
		t.Fatalf("%v %v", got, ok)
	}
	if _, ok := planner.DropIndexOf(`DROP TABLE a`); ok {
		t.Fatal("DROP TABLE taken for DROP INDEX")
	}
}

func TestSettings(t *testing.T) {
	p := planner.New(nil)
	for sql, want := range map[string]string{
		"SET hnsw.ef_search = 100":                                         "[{hnsw.ef_search 100 false false false}]",
		"SET ivfflat.probes = 7":                                           "[{ivfflat.probes 7 false false false}]",
		"  set local vecgate.enabled to off":                               "[{vecgate.enabled off true false false}]",
		"RESET ALL":                                                        "[{  false true false}]",
		"SELECT 1; SET vecgate.consistency = 'eventual'":                   "[{vecgate.consistency eventual false false false}]",
		"-- knob\nSET vecgate.max_wait = 250":                              "[{vecgate.max_wait 250 false false false}]",
		"BEGIN; SET vecgate.enabled = off; COMMIT; SET hnsw.ef_search = 9": "[{vecgate.enabled off false false true} {hnsw.ef_search 9 false false false}]",
		"SELECT id FROM t ORDER BY e <-> '[1]' OFFSET 20":                  "[]",
		"SET work_mem = '64MB'":                                            "[]",
		"DISCARD ALL":                                                      "[{  false true false}]",
		"discard plans":                                                    "[]",
	} {
		if got := fmt.Sprint(p.Settings(sql)); got != want {
			t.Errorf("%q: %s, want %s", sql, got, want)
		}
	}
}
