package vectext_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/internal/vectext"
)

// pgParse is Postgres' reading of s as a vector (vector_in through a text parameter): its
// elements from vector_send, or its error.
func pgParse(t *testing.T, c *pgx.Conn, s string) ([]float32, *pgconn.PgError) {
	t.Helper()
	var b []byte
	err := c.QueryRow(context.Background(), "SELECT vector_send($1::vector)", s).Scan(&b)
	if err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("%q: %v", s, err)
		}
		return nil, pe
	}
	dims := int(binary.BigEndian.Uint16(b))
	out := make([]float32, dims)
	for i := range out {
		out[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4+4*i:]))
	}
	return out, nil
}

// same reports how vectext's reading of s differs from Postgres' (empty when it does not): the
// same elements bit for bit, or the same SQLSTATE, message and detail.
func same(s string, got []float32, err error, want []float32, pe *pgconn.PgError) string {
	if pe != nil {
		var e *vectext.Error
		if !errors.As(err, &e) {
			return "Postgres: " + pe.Code + " " + pe.Message + "; vectext: " + errString(err)
		}
		if e.Code != pe.Code || e.Message != pe.Message || e.Detail != pe.Detail {
			return "Postgres: " + pe.Code + " " + pe.Message + " / " + pe.Detail + "; vectext: " + e.Code + " " + e.Message + " / " + e.Detail
		}
		return ""
	}
	if err != nil {
		return "Postgres accepts it; vectext: " + err.Error()
	}
	if len(got) != len(want) {
		return "dimensions differ"
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return "element " + itoa(i) + ": Postgres " + bitsString(want[i]) + ", vectext " + bitsString(got[i])
		}
	}
	return ""
}

// TestAgainstPostgres: every hand-picked and random element, alone and in vectors with
// whitespace and malformations around it, is read by vectext as Postgres reads it: the same
// float32 bits, or the same error (SQLSTATE, message, detail).
func TestAgainstPostgres(t *testing.T) {
	c := pgtest.Connect(t, pgtest.NewDB(t))
	r := rand.New(rand.NewPCG(7, 7))
	var texts []string
	for _, e := range append(handPicked, randomNumbers(r, 300)...) {
		texts = append(texts, "["+e+"]", "[1,"+e+"]", "[ "+e+" , 2 ]")
	}
	texts = append(texts,
		"", " ", "[", "]", "[]", "[ ]", " [ \t] ", "1,2", "(1,2)", "{1,2}", "[1,2", "[1,2,", "[1,2]x", "[1,2] x", "[1,2] ]",
		"[1,2]]", "[[1,2]]", "[1,,2]", "[,1]", "[1,]", "[1 2]", "[1;2]", " \t\n\r\v\f[1,2]\f\v\r\n\t ", "[\v1\f,\r2\n]",
		"[1,nan,1e39]", "[1e39,nan]", "[nan,inf]", "[1,2]nan", "[1,x,nan]", "[1,\x00]", "[1]\x00", "\x00[1]",
		"[1,2]\u00a0", "\u00a0[1]", "[１]", "[1e39", "[inf", "[0x1p3,0x,1]",
	)
	for _, s := range texts {
		want, pe := pgParse(t, c, s)
		got, err := vectext.Parse(s)
		if strings.IndexByte(s, 0) >= 0 {
			// Postgres refuses the byte before vector_in sees it; vectext says so.
			if pe == nil || !errors.Is(err, vectext.ErrNUL) {
				t.Errorf("%q: Postgres %v, vectext %v", s, pe, err)
			}
			continue
		}
		if d := same(s, got, err, want, pe); d != "" {
			t.Errorf("%q: %s", s, d)
		}
	}
}

// TestAgainstPostgresVectors: large vectors of random elements (the embeddings clients send, and
// the awkward values of randomNumbers) are read bit for bit as Postgres reads them.
func TestAgainstPostgresVectors(t *testing.T) {
	c := pgtest.Connect(t, pgtest.NewDB(t))
	r := rand.New(rand.NewPCG(11, 3))
	var texts []string
	for seed := range uint64(4) {
		texts = append(texts, embeddingText(seed, 1536, 64), embeddingText(seed, 1536, 32))
		texts = append(texts, strings.ReplaceAll(embeddingText(seed, 300, 64), ",", ", ")) // Python's str(list)
	}
	for range 30 {
		texts = append(texts, "["+strings.Join(randomNumbers(r, 1000), ",")+"]")
		plain := plainDecimals(r, 1000)
		for i, e := range plain {
			if e == "" || e == "-" || e == "+" || e == "." || e == "-." || e == "+." {
				plain[i] = "0" // an element pgvector rejects would hide the rest
			}
		}
		texts = append(texts, "["+strings.Join(plain, ",")+"]")
	}
	for _, s := range texts {
		want, pe := pgParse(t, c, s)
		got, err := vectext.Parse(s)
		if d := same(s, got, err, want, pe); d != "" {
			t.Errorf("%.80q…: %s", s, d)
		}
	}
}

// TestDimensionLimit: pgvector's limit of 16,000 elements, checked before each element is read.
func TestDimensionLimit(t *testing.T) {
	c := pgtest.Connect(t, pgtest.NewDB(t))
	many := strings.Repeat("1,", vectext.MaxDims)
	for _, s := range []string{
		"[" + many[:len(many)-1] + "]", // 16,000
		"[" + many + "1]",              // 16,001
		"[" + many + "nan]",            // the limit is met before the NaN
		"[" + many + "]",               // and before the missing element
		"[" + many[:len(many)-2] + "nan," + "1]",
	} {
		want, pe := pgParse(t, c, s)
		got, err := vectext.Parse(s)
		if d := same(s, got, err, want, pe); d != "" {
			t.Errorf("%d bytes: %s", len(s), d)
		}
	}
}
