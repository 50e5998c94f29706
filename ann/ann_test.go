package ann_test

import (
	"errors"
	"math"
	"testing"

	"github.com/vecgate/vecgate/ann"
)

func TestMetricOperatorsAndParse(t *testing.T) {
	ops := map[ann.Metric]string{ann.L2: "<->", ann.InnerProduct: "<#>", ann.Cosine: "<=>", ann.L1: "<+>", ann.Hamming: "<~>"}
	for m, op := range ops {
		if m.String() != op {
			t.Errorf("%d.String() = %q, want %q", m, m.String(), op)
		}
		for _, s := range []string{op, m.Name()} {
			if got, err := ann.ParseMetric(s); err != nil || got != m {
				t.Errorf("ParseMetric(%q) = %v, %v", s, got, err)
			}
		}
	}
	for s, want := range map[string]ann.Metric{"vector_l2_ops": ann.L2, "halfvec_ip_ops": ann.InnerProduct,
		"vector_cosine_ops": ann.Cosine, "sparsevec_l1_ops": ann.L1, "bit_hamming_ops": ann.Hamming} {
		if got, err := ann.ParseMetric(s); err != nil || got != want {
			t.Errorf("ParseMetric(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ann.ParseMetric("bit_jaccard_ops"); !errors.Is(err, ann.ErrUnknownMetric) {
		t.Errorf("jaccard: %v", err)
	}
}

// The definitions pgvector documents, on hand-computed values.
func TestMetricDistancesArePgvectors(t *testing.T) {
	a, b := []float32{1, 2, 3}, []float32{4, 5, 6}
	cases := []struct {
		m    ann.Metric
		want float64
	}{
		{ann.L2, math.Sqrt(27)},
		{ann.InnerProduct, -32},
		{ann.Cosine, 1 - 32/math.Sqrt(14*77)},
		{ann.L1, 9},
	}
	for _, c := range cases {
		if got := c.m.Distance(a, b); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%v: %v, want %v", c.m, got, c.want)
		}
	}
	if d := ann.Cosine.Distance([]float32{0, 0}, []float32{1, 1}); !math.IsNaN(d) {
		t.Errorf("cosine with zero vector = %v, want NaN like pgvector", d)
	}
}

func TestCheckVector(t *testing.T) {
	var de *ann.DimensionError
	if _, err := ann.CheckVector(ann.L2, 3, []float32{1}); !errors.As(err, &de) || err.Error() != "different vector dimensions 3 and 1" {
		t.Errorf("dimension error: %v", err)
	}
	if _, err := ann.CheckVector(ann.L2, 1, []float32{float32(math.NaN())}); !errors.Is(err, ann.ErrNaN) || err.Error() != "NaN not allowed in vector" {
		t.Errorf("nan: %v", err)
	}
	if _, err := ann.CheckVector(ann.L2, 1, []float32{float32(math.Inf(-1))}); !errors.Is(err, ann.ErrInf) || err.Error() != "infinite value not allowed in vector" {
		t.Errorf("inf: %v", err)
	}
	if _, err := ann.CheckVector(ann.Cosine, 2, []float32{0, 0}); !errors.Is(err, ann.ErrZeroVector) {
		t.Errorf("zero cosine: %v", err)
	}
	if n, err := ann.CheckVector(ann.L2, 2, []float32{0, 0}); err != nil || n != 0 {
		t.Errorf("zero L2 must be fine: %v", err)
	}
	if err := ann.CheckK(0); !errors.Is(err, ann.ErrBadK) {
		t.Errorf("k=0: %v", err)
	}
}

func TestKeys(t *testing.T) {
	u := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	keys := []ann.Key{ann.IntKey(-42), ann.IntKey(1 << 40), ann.UUIDKey(u), ann.TextKey("héllo"), ann.TextKey("")}
	if keys[2].String() != "12345678-9abc-def0-0102-030405060708" {
		t.Errorf("uuid text %s", keys[2])
	}
	if keys[0].String() != "-42" || keys[3].String() != "héllo" {
		t.Errorf("key text %s %s", keys[0], keys[3])
	}
	if ann.TextKey("1") == ann.IntKey(1) {
		t.Error("text and int keys compare equal")
	}
	var buf []byte
	for _, k := range keys {
		var err error
		if buf, err = k.AppendBinary(buf); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range keys {
		got, n, err := ann.DecodeKey(buf)
		if err != nil || got != want {
			t.Fatalf("decode %v: %v %v", want, got, err)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatal("trailing bytes")
	}
}

func FuzzDecodeKey(f *testing.F) {
	b, _ := ann.TextKey("abc").AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, n, err := ann.DecodeKey(data)
		if err != nil {
			if !errors.Is(err, ann.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if n > len(data) {
			t.Fatalf("read %d of %d bytes", n, len(data))
		}
		again, err := k.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if k2, _, _ := ann.DecodeKey(again); k2 != k {
			t.Fatal("round trip changed key")
		}
	})
}

func FuzzParseMetric(f *testing.F) {
	f.Add("vector_l2_ops")
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ann.ParseMetric(s); err == nil && !m.Valid() {
			t.Fatalf("invalid metric %d parsed from %q", m, s)
		}
	})
}
