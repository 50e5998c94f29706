package codecfile

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/quant/sq8"
)

func TestSQ8RoundTripAndChecks(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		lo, hi float32
		conf   float64
		ok     bool
	}{
		{-1, 2, 0.999, true},
		{0, 1e-30, 1, true},
		{1, 1, 0.5, false},    // empty range
		{2, 1, 0.5, false},    // reversed
		{-inf, 1, 0.5, false}, // infinite width
		{0, 1, 0, false},      // confidence out of (0, 1]
		{0, 1, 1.5, false},
		{0, 1, math.NaN(), false},
		{float32(math.NaN()), 1, 0.5, false},
	} {
		var buf bytes.Buffer
		e := fileformat.NewEncoder(&buf, "TEST", 1)
		WriteSQ8(e, &sq8.Codec{Dims: 3, Lower: c.lo, Upper: c.hi, Confidence: c.conf})
		e.U32(7) // what follows must still be where the caller expects it
		if err := e.Finish(); err != nil {
			t.Fatal(err)
		}
		d, err := fileformat.Open(&buf, "TEST", 1)
		if err != nil {
			t.Fatal(err)
		}
		got := ReadSQ8(d, 3)
		next := d.U32()
		if !c.ok {
			if !errors.Is(d.Err(), fileformat.ErrCorrupt) {
				t.Errorf("[%v, %v] %v: err %v, want corrupt", c.lo, c.hi, c.conf, d.Err())
			}
			continue
		}
		if err := d.End(); err != nil {
			t.Fatalf("[%v, %v] %v: %v", c.lo, c.hi, c.conf, err)
		}
		if *got != (sq8.Codec{Dims: 3, Lower: c.lo, Upper: c.hi, Confidence: c.conf}) || next != 7 {
			t.Errorf("read %+v then %d", *got, next)
		}
	}
}
