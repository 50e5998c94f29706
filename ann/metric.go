package ann

import (
	"fmt"
	"math"
	"strings"

	"github.com/vecgate/vecgate/vecmath"
)

// Metric is a distance function with pgvector's semantics.
type Metric uint8

// The metrics pgvector defines. The zero value is L2, pgvector's default.
const (
	// L2 is the Euclidean distance, operator <->.
	L2 Metric = iota
	// InnerProduct is the negative inner product, operator <#>.
	InnerProduct
	// Cosine is the cosine distance 1 - cos(a, b), operator <=>.
	Cosine
	// L1 is the taxicab distance, operator <+>.
	L1
	// Hamming is the number of differing bits of binary codes, operator <~>.
	Hamming
)

// String returns pgvector's operator for m.
func (m Metric) String() string {
	switch m {
	case L2:
		return "<->"
	case InnerProduct:
		return "<#>"
	case Cosine:
		return "<=>"
	case L1:
		return "<+>"
	case Hamming:
		return "<~>"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// Name returns a short lower-case name: l2, ip, cosine, l1, hamming.
func (m Metric) Name() string {
	switch m {
	case L2:
		return "l2"
	case InnerProduct:
		return "ip"
	case Cosine:
		return "cosine"
	case L1:
		return "l1"
	case Hamming:
		return "hamming"
	}
	return m.String()
}

// Valid reports whether m is one of the defined metrics.
func (m Metric) Valid() bool { return m <= Hamming }

// ParseMetric accepts an operator (<->, <#>, <=>, <+>, <~>), a short name (l2,
// ip, cosine, l1, hamming) or a pgvector opclass name (vector_l2_ops,
// vector_ip_ops, vector_cosine_ops, vector_l1_ops, bit_hamming_ops and the
// halfvec_/sparsevec_ variants).
func ParseMetric(s string) (Metric, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"vector_", "halfvec_", "sparsevec_", "bit_"} {
		t = strings.TrimPrefix(t, p)
	}
	t = strings.TrimSuffix(t, "_ops")
	switch t {
	case "<->", "l2", "euclidean":
		return L2, nil
	case "<#>", "ip", "inner_product", "innerproduct", "dot":
		return InnerProduct, nil
	case "<=>", "cosine", "cos":
		return Cosine, nil
	case "<+>", "l1", "manhattan", "taxicab":
		return L1, nil
	case "<~>", "hamming":
		return Hamming, nil
	}
	return 0, fmt.Errorf("ann: parse metric %q: %w", s, ErrUnknownMetric)
}

// Distance computes m's distance between a and b exactly as pgvector's SQL
// functions define it (sums in float32, result in float64). It is the slow
// reference used by tests and by callers that need one distance; indexes use
// the kernels in vecmath. Cosine with a zero vector returns NaN, as
// pgvector's cosine_distance does. Hamming is not defined on float vectors and
// returns NaN. len(a) must equal len(b).
func (m Metric) Distance(a, b []float32) float64 {
	switch m {
	case L2:
		var s float32
		for i := range a {
			d := a[i] - b[i]
			s += d * d
		}
		return math.Sqrt(float64(s))
	case InnerProduct:
		var s float32
		for i := range a {
			s += a[i] * b[i]
		}
		return -float64(s)
	case Cosine:
		var dot, na, nb float32
		for i := range a {
			dot += a[i] * b[i]
			na += a[i] * a[i]
			nb += b[i] * b[i]
		}
		return vecmath.CosineFromParts(float64(dot), float64(na), float64(nb))
	case L1:
		var s float32
		for i := range a {
			s += float32(math.Abs(float64(a[i] - b[i])))
		}
		return float64(s)
	}
	return math.NaN()
}
