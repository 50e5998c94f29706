package vecmath

import (
	"strings"
	"testing"
)

// TestChoose checks the VECGATE_KERNELS names: empty picks the best assembly set, a name picks
// that set, a name this build or CPU cannot run picks the portable set.
func TestChoose(t *testing.T) {
	best := Portable.Name
	if len(asm) > 0 {
		best = asm[0].Name
	}
	cases := map[string]string{"": best, "portable": "portable", "sse9": "portable", "AVX2": "portable"}
	for _, k := range sets {
		cases[k.Name] = k.Name
		if strings.HasPrefix(k.Name, "archsimd-") && cases["archsimd"] == "" {
			cases["archsimd"] = k.Name
		}
	}
	if _, ok := cases["archsimd"]; !ok {
		cases["archsimd"] = "portable"
	}
	for name, want := range cases {
		if got := choose(name).Name; got != want {
			t.Errorf("choose(%q) = %q, want %q", name, got, want)
		}
	}
}
