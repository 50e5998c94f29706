package vectext_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/vectext"
)

// embeddingText is a dims-element vector text with normally distributed values as clients print
// them: bits 64 for float64 values in their shortest form (JSON.stringify, Python repr: up to 17
// significant digits), 32 for float32 values (8–9 digits, as pgvector and numpy print them).
func embeddingText(seed uint64, dims, bits int) string {
	r := rand.New(rand.NewPCG(seed, 17))
	var b strings.Builder
	b.WriteByte('[')
	for i := range dims {
		if i > 0 {
			b.WriteByte(',')
		}
		v := r.NormFloat64() / math.Sqrt(float64(dims))
		if bits == 32 {
			v = float64(float32(v))
		}
		b.WriteString(strconv.FormatFloat(v, 'g', -1, bits))
	}
	b.WriteByte(']')
	return b.String()
}

// strconvParse is the parser vecgate used before this package (planner.ParseVector until
// 2026-12): split on commas, strconv.ParseFloat per element. It is the benchmark's peer.
func strconvParse(s string) ([]float32, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, errors.New("not a vector literal")
	}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return nil, errors.New("empty vector")
	}
	parts := strings.Split(body, ",")
	out := make([]float32, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" || strings.ContainsAny(p, "nNiI_xXpP") {
			return nil, fmt.Errorf("element %q", p)
		}
		f, err := strconv.ParseFloat(p, 32)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("element %q", p)
		}
		out[i] = float32(f)
	}
	return out, nil
}

// BenchmarkParseVector1536: a 1536-d text vector parameter, this package (from a string, and from
// bytes as Bind reads it) against the strconv-per-element parser (the peer), in the same run.
func BenchmarkParseVector1536(b *testing.B) {
	for _, bits := range []int{64, 32} {
		s := embeddingText(1, 1536, bits)
		msg := []byte(s)
		for _, p := range []struct {
			name  string
			parse func(string) ([]float32, error)
		}{
			{"strconv", strconvParse},
			{"vectext", vectext.Parse[string]},
			// As Bind reads a text parameter: in place, from the message's bytes.
			{"vectext-bytes", func(s string) ([]float32, error) { return vectext.Parse(msg) }},
		} {
			b.Run(fmt.Sprintf("float%d/%s", bits, p.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(s)))
				for b.Loop() {
					if _, err := p.parse(s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
