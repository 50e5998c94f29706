package sq8_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/quant/sq8"
)

func sample(seed uint64, n, dims int, scale float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	out := make([]float32, n*dims)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func TestQuantilesClampOutliers(t *testing.T) {
	data := sample(1, 1000, 16, 1)
	data[5] = 1e6 // an outlier must not stretch the range
	c, err := sq8.Train(data, 16, 0.99)
	if err != nil {
		t.Fatal(err)
	}
	if c.Upper > 5 || c.Lower < -5 || c.Upper <= c.Lower {
		t.Fatalf("quantiles [%v, %v] not robust", c.Lower, c.Upper)
	}
	codes := make([]uint8, 16)
	v := make([]float32, 16)
	v[0], v[1] = 1e6, -1e6
	c.Encode(v, codes)
	if codes[0] != 255 || codes[1] != 0 {
		t.Fatalf("clamping: %d %d", codes[0], codes[1])
	}
}

func TestDotAndL2Accuracy(t *testing.T) {
	const dims = 128
	data := sample(2, 500, dims, 1)
	c, _ := sq8.Train(data, dims, 0)
	a, b := make([]uint8, dims), make([]uint8, dims)
	var maxDotErr, maxL2Err, sumL2Err float64
	for i := 0; i+1 < 200; i += 2 {
		x, y := data[i*dims:(i+1)*dims], data[(i+1)*dims:(i+2)*dims]
		ca, cb := c.Encode(x, a), c.Encode(y, b)
		var dot, l2, nx float64
		for j := range x {
			dot += float64(x[j] * y[j])
			d := float64(x[j] - y[j])
			l2 += d * d
			nx += float64(x[j] * x[j])
		}
		maxDotErr = max(maxDotErr, math.Abs(float64(c.Dot(a, ca, b, cb))-dot)/nx)
		e := math.Abs(float64(c.L2Squared(a, b))-l2) / l2
		maxL2Err = max(maxL2Err, e)
		sumL2Err += e
	}
	// Rounding costs α/2 per component; clamping the ~0.8% of Gaussian
	// components outside the confidence interval costs more, so bound the
	// mean tightly and the worst case loosely.
	if mean := sumL2Err / 100; maxDotErr > 0.05 || maxL2Err > 0.12 || mean > 0.03 {
		t.Fatalf("relative errors dot %.4f l2 max %.4f mean %.4f", maxDotErr, maxL2Err, mean)
	}
	// Without the correction term the dot product would be far off.
	x := data[:dims]
	ca := c.Encode(x, a)
	var dot float64
	for _, v := range x {
		dot += float64(v * v)
	}
	al := float64(c.Alpha())
	raw := al * al * float64(dotU8(a, a))
	if math.Abs(raw-dot) < math.Abs(float64(c.Dot(a, ca, a, ca))-dot) {
		t.Fatal("correction term does not help")
	}
}

func dotU8(a, b []uint8) int {
	s := 0
	for i := range a {
		s += int(a[i]) * int(b[i])
	}
	return s
}

func TestDrift(t *testing.T) {
	c, _ := sq8.Train(sample(3, 1000, 8, 1), 8, 0)
	if c.NeedsRequantize(sample(4, 1000, 8, 1), 0) {
		t.Error("same distribution flagged as drift")
	}
	if !c.NeedsRequantize(sample(5, 1000, 8, 3), 0) {
		t.Error("3× wider distribution not flagged")
	}
	if _, err := sq8.Train(nil, 8, 0); err == nil {
		t.Error("empty sample trained")
	}
	if _, err := sq8.Train(make([]float32, 7), 8, 0); err == nil {
		t.Error("ragged sample trained")
	}
	nan := float32(math.NaN())
	if _, err := sq8.Train([]float32{nan, nan}, 2, 0); err == nil {
		t.Error("all-NaN sample trained")
	}
	c2, err := sq8.Train([]float32{2, 2, 2, 2}, 2, 0)
	if err != nil || c2.Upper <= c2.Lower {
		t.Errorf("constant data: %v %+v", err, c2)
	}
}

func FuzzEncode(f *testing.F) {
	f.Add(float32(-1), float32(1), float32(0.5), float32(7))
	f.Fuzz(func(t *testing.T, lo, hi, x, y float32) {
		c, err := sq8.Train([]float32{lo, hi}, 1, 1)
		if err != nil {
			return
		}
		codes := make([]uint8, 2)
		c.Encode([]float32{x, y}, codes)
		dec := make([]float32, 2)
		c.Decode(codes, dec)
		_ = c.L2Squared(codes[:1], codes[1:])
	})
}

func BenchmarkDistance(b *testing.B) {
	const dims = 768
	data := sample(6, 2, dims, 1)
	c, _ := sq8.Train(data, dims, 0)
	x, y := make([]uint8, dims), make([]uint8, dims)
	cx, cy := c.Encode(data[:dims], x), c.Encode(data[dims:], y)
	b.Run("dot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Dot(x, cx, y, cy)
		}
	})
	b.Run("l2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.L2Squared(x, y)
		}
	})
}

func TestClippedAndDriftBound(t *testing.T) {
	const dims = 64
	data := sample(7, 2000, dims, 1)
	c, err := sq8.Train(data, dims, 0)
	if err != nil {
		t.Fatal(err)
	}
	bound := c.DriftBound(data)
	if bound < sq8.MinDriftBound || bound > 2*sq8.MinDriftBound {
		t.Fatalf("bound %v on the training data itself", bound)
	}
	over := 0
	for i := range 2000 {
		if c.Clipped(data[i*dims:(i+1)*dims]) > bound {
			over++
		}
	}
	if over > 2 {
		t.Errorf("%d of 2000 training rows past the bound", over)
	}
	far := make([]float32, dims)
	for i := range far {
		far[i] = 50 * data[i]
	}
	if s := c.Clipped(far); s < 0.5 {
		t.Errorf("a row ×50 clips %.3f of its energy", s)
	}
	if s := c.Clipped(make([]float32, dims)); s != 0 {
		t.Errorf("the zero vector clips %v", s)
	}
}
