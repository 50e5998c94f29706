package planner

import "errors"

// Reasons a statement goes to Postgres unchanged, as vecgate's metrics name them
// (vecgate_forwarded_total{reason}). Reason maps a planning error to one of them.
const (
	ReasonNotVector = "not_vector" // no distance operator: most statements a proxy sees
	ReasonNotShape  = "not_shape"  // a distance operator, but not the top-k shape (or invalid SQL)
	ReasonNoIndex   = "no_index"   // no live index for the table, column and metric
	ReasonLoading   = "loading"    // the table's twins are loading (a table loaded alone)
	ReasonDesc      = "desc"       // ORDER BY … DESC: the farthest rows, which an index does not find
	ReasonHalfvec   = "halfvec"    // a halfvec query vector: Postgres computes in half precision
	ReasonPlanner   = "planner"    // another reason of the planner's (a vector it cannot read, LIMIT, …)
)

// reasonError is a forwarding error with the reason vecgate counts it under.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

func because(reason string, err error) error { return &reasonError{reason: reason, err: err} }

// Reason names why err (from PlanSimple, Prepare or Bind) forwards the statement.
func Reason(err error) string {
	var re *reasonError
	switch {
	case errors.As(err, &re):
		return re.reason
	case errors.Is(err, errNoOperator):
		return ReasonNotVector
	case errors.Is(err, ErrForward):
		return ReasonPlanner
	}
	return ReasonNotShape
}
