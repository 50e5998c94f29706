package indexdef

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vecgate/vecgate/ann"
)

// Modes of a Spec.
const (
	// ModeMirror: Postgres builds its own index too (vecgate's options removed).
	ModeMirror = "mirror"
	// ModeOffload: only vecgate holds the index; Postgres never sees the statement.
	ModeOffload = "offload"
)

// Spec is a vector index defined through vecgate: one row of vecgate.indexes.
type Spec struct {
	Schema, Name, Table, Column string
	Method                      string // hnsw or ivfflat: an HNSW or an IVF index in memory
	Metric                      ann.Metric
	Mode                        string // ModeMirror or ModeOffload

	// Options (the options column). pgvector's: m, ef_construction, lists; vecgate's: the rest.
	M, EFConstruction int      // 0: pgvector's defaults
	Lists             int      // ivfflat; 0: pgvector's default
	Dims              int      // Matryoshka: index the first Dims dimensions (0: all)
	Quantizer         string   // "" (none), "sq8"; for ivfflat also "pq" or "binary"
	Oversample        float64  // 0: default
	Include           []string // columns kept for filtering (live/include.go)
}

// options is the JSON form of a Spec's options, as vecgate.indexes.options holds them. Zero
// values are left out: each means "the default" (and 0 is no valid value of any option).
type options struct {
	M              int      `json:"m,omitempty"`
	EFConstruction int      `json:"ef_construction,omitempty"`
	Lists          int      `json:"lists,omitempty"`
	Dims           int      `json:"dims,omitempty"`
	Quantizer      string   `json:"quantizer,omitempty"`
	Oversample     float64  `json:"oversample,omitempty"`
	Include        []string `json:"include,omitempty"`
}

// EncodeOptions returns the JSON object of s's options for vecgate.indexes.options.
func (s Spec) EncodeOptions() ([]byte, error) {
	b, err := json.Marshal(options{M: s.M, EFConstruction: s.EFConstruction, Lists: s.Lists, Dims: s.Dims,
		Quantizer: s.Quantizer, Oversample: s.Oversample, Include: s.Include})
	if err != nil {
		return nil, fmt.Errorf("encode options of index %s.%s: %w", s.Schema, s.Name, err)
	}
	return b, nil
}

// DecodeOptions sets s's options from their JSON object. Keys it does not know are ignored (a
// newer vecgate may have written them); a known key of the wrong type is an error, and then s is
// unchanged. Quantizer "none" is stored as "".
func (s *Spec) DecodeOptions(data []byte) error {
	var o options
	if err := json.Unmarshal(data, &o); err != nil {
		return err
	}
	if o.Quantizer == "none" {
		o.Quantizer = ""
	}
	s.M, s.EFConstruction, s.Lists, s.Dims = o.M, o.EFConstruction, o.Lists, o.Dims
	s.Quantizer, s.Oversample, s.Include = o.Quantizer, o.Oversample, o.Include
	return nil
}

// Includes maps specs to the columns replication must carry with each row:
// "schema.table" → column names, each once, in the order the specs name them.
func Includes(specs []Spec) map[string][]string {
	out := map[string][]string{}
	for _, s := range specs {
		t := s.Schema + "." + s.Table
		for _, c := range s.Include {
			if !slices.Contains(out[t], c) {
				out[t] = append(out[t], c)
			}
		}
	}
	return out
}
