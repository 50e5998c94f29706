package planner

import (
	"fmt"
	"strconv"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/vectext"
)

// Hamming distances over bits (`<~>`): a bit column's bit_hamming_ops index, or an index on
// `(binary_quantize(col)::bit(n))` of a vector column (Shape.Expr of kind ExprBinaryQuantize),
// the first stage of pgvector's binary quantisation recipe:
//
//	SELECT * FROM (SELECT … ORDER BY binary_quantize(emb)::bit(3072) <~> binary_quantize($1::vector)
//	               LIMIT 20) c ORDER BY emb <=> $1 LIMIT 5
//
// The query vector is a bit string ('0101', B'0101', X'5', a text parameter, a cast to
// bit(n) of one as long), or binary_quantize of a vector cast to vector (binary_quantize of an
// untyped value is ambiguous to Postgres, which says so). Hamming distances are small integers,
// so ties are everywhere: the rewrite's cut moves past every row tied with the last candidate
// (candidates), and answers always go through Postgres (no answer from memory), which picks
// among the tied rows as it would. Thresholds on the distance, similarities and DESC are
// forwarded. bit_jaccard_ops (`<%>`) has no twin and is forwarded.

// ExprBinaryQuantize is ColumnExpr.Kind of `binary_quantize(col)::bit(n)`
// (catalog.ExprBinaryQuantize's name).
const ExprBinaryQuantize = "binary_quantize"

// bitCast returns the length of a cast to Postgres' bit(n) (the grammar's pg_catalog.bit);
// ok false for any other type or a bit without its length (bit(1)).
func bitCast(tc *pg.TypeCast) (n int, ok bool) {
	if tc == nil || tc.TypeName == nil || tc.TypeName.ArrayBounds != nil || tc.TypeName.Setof || len(tc.TypeName.Typmods) != 1 {
		return 0, false
	}
	names := tc.TypeName.GetNames()
	if len(names) != 2 || names[0].GetString_().GetSval() != "pg_catalog" || names[1].GetString_().GetSval() != "bit" {
		return 0, false
	}
	mod, err := intArg(tc.TypeName.Typmods[0])
	if err != nil || mod.IsParam() || mod.Int < 1 || mod.Int > ann.MaxDims*64 {
		return 0, false
	}
	return int(mod.Int), true
}

// binaryQuantizeArg returns x of `binary_quantize(x)` (unqualified, a plain call).
func binaryQuantizeArg(n *pg.Node) (*pg.Node, bool) {
	fc := n.GetFuncCall()
	if fc == nil || len(fc.Funcname) != 1 || fc.Funcname[0].GetString_().GetSval() != "binary_quantize" ||
		len(fc.Args) != 1 || fc.AggStar || fc.AggDistinct || fc.FuncVariadic || fc.Over != nil ||
		fc.AggFilter != nil || len(fc.AggOrder) > 0 {
		return nil, false
	}
	return fc.Args[0], true
}

// bitExprColumn matches `binary_quantize(col)::bit(n)` and returns its column key (exprColumn).
func (sh *Shape) bitExprColumn(n *pg.Node) (string, bool) {
	tc := n.GetTypeCast()
	dims, ok := bitCast(tc)
	if !ok {
		return "", false
	}
	arg, ok := binaryQuantizeArg(tc.Arg)
	if !ok {
		return "", false
	}
	col, ok := sh.columnName(arg)
	if !ok {
		return "", false
	}
	return col + exprSep + ExprBinaryQuantize + exprSep + strconv.Itoa(dims), true
}

// readBitVector reads the query side of a Hamming distance.
func (sh *Shape) readBitVector(n *pg.Node) error {
	if arg, ok := binaryQuantizeArg(n); ok {
		if err := sh.readVector(arg); err != nil {
			return err
		}
		if sh.VectorType != "vector" {
			return notShape("binary_quantize of a value not cast to vector")
		}
		sh.quantize = true
		return nil
	}
	if tc := n.GetTypeCast(); tc != nil {
		dims, ok := bitCast(tc)
		if !ok {
			return notShape("bit query vector cast to another type")
		}
		sh.VectorDims, n = dims, tc.Arg // a value of another length is padded or cut: plan compares
	}
	sh.VectorType = "bit"
	if p := n.GetParamRef(); p != nil {
		sh.Vector = Arg{Param: int(p.Number)}
		return nil
	}
	c := n.GetAConst()
	switch {
	case c == nil || c.Isnull:
	case c.GetSval() != nil:
		sh.Vector = Arg{Literal: c.GetSval().Sval}
		return nil
	case c.GetBsval() != nil:
		sh.Vector = Arg{Literal: c.GetBsval().Bsval} // b0101 or x5: bit_in reads the prefix
		return nil
	}
	return notShape("bit query vector is not a literal or parameter")
}

// queryVector reads the query vector's text as the statement's operator takes it: a vector, or
// for Hamming distances bits as float32 0 and 1 (binary_quantize's of a vector).
func (sh *Shape) queryVector(text []byte) ([]float32, error) {
	if sh.Metric != ann.Hamming {
		return vectext.Parse(text)
	}
	if sh.quantize {
		v, err := vectext.Parse(text)
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			v[i] = 0
			if x > 0 {
				v[i] = 1
			}
		}
		return v, nil
	}
	return parseBits(text)
}

// parseBits reads a bit string as bit_in does — binary digits, or with a leading b/B binary and
// x/X hexadecimal digits — into 0 and 1 values; anything else is an error (Postgres reports
// its own when the statement is forwarded).
func parseBits(s []byte) ([]float32, error) {
	hex := false
	if len(s) > 0 {
		switch s[0] {
		case 'b', 'B':
			s = s[1:]
		case 'x', 'X':
			s, hex = s[1:], true
		}
	}
	if len(s) == 0 || len(s) > ann.MaxDims*64 {
		return nil, fmt.Errorf("bit string of %d digits", len(s))
	}
	var out []float32
	for _, c := range s {
		if !hex {
			switch c {
			case '0':
				out = append(out, 0)
			case '1':
				out = append(out, 1)
			default:
				return nil, fmt.Errorf("%q is not a valid binary digit", c)
			}
			continue
		}
		d, err := strconv.ParseUint(string(c), 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid hexadecimal digit", c)
		}
		for b := 3; b >= 0; b-- {
			out = append(out, float32(d>>b&1))
		}
	}
	return out, nil
}

// bitsForward says why a Hamming statement is forwarded when it is (nil: it is not).
func (sh *Shape) bitsForward() error {
	switch {
	case sh.Metric != ann.Hamming:
		return nil
	case sh.Farthest || sh.Similarity:
		return because(ReasonDesc, forward("ORDER BY a Hamming distance DESC"))
	case len(sh.Thresholds) > 0 || len(sh.derived) > 0:
		return forward("a bound on or a use of the Hamming distance besides the ORDER BY")
	}
	return nil
}
