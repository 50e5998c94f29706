package ann

import (
	"errors"
	"fmt"
	"math"

	"github.com/vecgate/vecgate/internal/fileformat"
)

// Sentinel errors. Implementations wrap them with the operation
// ("hnsw: add 42: ann: different vector dimensions 3 and 4"), so callers test
// them with errors.Is. The SQLSTATE a caller should answer with is noted on
// each; where pgvector itself would not raise an error (a zero vector under
// cosine, an empty index) the note says what pgvector does instead, so the
// caller can forward the statement and let Postgres answer.
var (
	// ErrDimension: the vector's length differs from the index's. pgvector
	// raises 22000 (data_exception) "different vector dimensions %d and %d".
	// Use [DimensionError] to get both numbers.
	ErrDimension = errors.New("different vector dimensions")
	// ErrNaN: a component is NaN. pgvector raises 22023
	// (invalid_parameter_value) "NaN not allowed in vector".
	ErrNaN = errors.New("NaN not allowed in vector")
	// ErrInf: a component is +Inf or -Inf. pgvector raises 22023
	// "infinite value not allowed in vector".
	ErrInf = errors.New("infinite value not allowed in vector")
	// ErrZeroVector: a zero vector under the cosine metric. pgvector raises
	// no error: cosine_distance returns NaN (which sorts after every number),
	// and its HNSW/IVFFlat cosine indexes skip zero vectors on insert. An
	// index therefore rejects the vector on Add (the caller keeps the row out
	// of the index, like pgvector) and on Search (the caller forwards the
	// query to Postgres, which returns every row at distance NaN).
	ErrZeroVector = errors.New("zero vector has no cosine distance")
	// ErrBadK: k <= 0. Not reachable from SQL (LIMIT 0 returns no rows and a
	// negative LIMIT is 2201W); the caller should not ask.
	ErrBadK = errors.New("k must be positive")
	// ErrEmpty: the index holds no vectors. Not an error in SQL (zero rows);
	// returned so the caller can tell "nothing indexed yet" apart from "no
	// match" and forward.
	ErrEmpty = errors.New("index is empty")
	// ErrCorrupt: a saved index is truncated, has a bad checksum, an unknown
	// version or inconsistent contents. Rebuild from Postgres.
	ErrCorrupt = fileformat.ErrCorrupt
	// ErrUnknownMetric: a metric name or opclass vecgate does not support.
	ErrUnknownMetric = errors.New("unknown metric")
	// ErrUnsupported: the index does not support this metric or option.
	ErrUnsupported = errors.New("unsupported")
	// ErrNotFound: the key is not in the index.
	ErrNotFound = errors.New("key not found")
)

// MaxDims is the largest dimension an index accepts: pgvector's limit for
// the vector type.
const MaxDims = 16000

// DimensionError reports a vector whose length differs from the index's. It
// matches ErrDimension with errors.Is; its message is pgvector's.
type DimensionError struct {
	Want, Got int
}

func (e *DimensionError) Error() string {
	return fmt.Sprintf("different vector dimensions %d and %d", e.Want, e.Got)
}

// Is makes errors.Is(err, ErrDimension) true.
func (e *DimensionError) Is(target error) bool { return target == ErrDimension }

// CheckVector validates v for an index of dims dimensions under metric m: the
// length, NaN and ±Inf components, and a zero vector under Cosine. It returns
// the squared norm of v as a by-product.
func CheckVector(m Metric, dims int, v []float32) (sqNorm float64, err error) {
	if len(v) != dims {
		return 0, &DimensionError{Want: dims, Got: len(v)}
	}
	var n float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) {
			return 0, ErrNaN
		}
		if math.IsInf(f, 0) {
			return 0, ErrInf
		}
		n += f * f
	}
	if m == Cosine && n == 0 {
		return 0, ErrZeroVector
	}
	return n, nil
}

// CheckK validates a requested result count.
func CheckK(k int) error {
	if k <= 0 {
		return fmt.Errorf("%w (got %d)", ErrBadK, k)
	}
	return nil
}
