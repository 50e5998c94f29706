package half_test

import (
	"math"
	"testing"

	"github.com/vecgate/vecgate/internal/half"
)

// TestWiden: every binary16 bit pattern widens to the float32 of its value, which Round keeps.
func TestWiden(t *testing.T) {
	for _, c := range []struct {
		bits uint16
		want float32
	}{{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 0x1p-24}, {0x03ff, 1023 * 0x1p-24}, {0x0400, 0x1p-14}, {0x3555, 0x1.554p-2}} {
		if got := half.Widen(c.bits); got != c.want {
			t.Errorf("Widen(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
	if z := half.Widen(0x8000); z != 0 || !math.Signbit(float64(z)) {
		t.Errorf("Widen(0x8000) = %v, want -0", z)
	}
	if !math.IsInf(float64(half.Widen(0x7c00)), 1) || !math.IsNaN(float64(half.Widen(0x7e00))) {
		t.Error("infinity or NaN not kept")
	}
	for b := range 1 << 16 {
		f := half.Widen(uint16(b))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		if r, ok := half.Round(f); !ok || math.Float32bits(r) != math.Float32bits(f) {
			t.Fatalf("Round(Widen(%#04x) = %v) = %v, %v", b, f, r, ok)
		}
	}
}
