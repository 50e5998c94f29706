package parallel_test

import (
	"sync"
	"testing"

	"github.com/vecgate/vecgate/internal/parallel"
)

func TestForCoversEveryIndexOnce(t *testing.T) {
	for _, c := range []struct{ n, threads, serialBelow int }{
		{0, 4, 0}, {1, 4, 0}, {7, 3, 0}, {1000, 0, 0}, {1000, 7, 0}, {1000, 1, 0}, {100, 4, 256},
	} {
		seen := make([]int32, c.n)
		var mu sync.Mutex
		calls := 0
		parallel.For(c.n, c.threads, c.serialBelow, func(lo, hi int) {
			mu.Lock()
			calls++
			mu.Unlock()
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, s := range seen {
			if s != 1 {
				t.Fatalf("%+v: index %d visited %d times", c, i, s)
			}
		}
		if (c.n < c.serialBelow || c.threads == 1) && calls != 1 {
			t.Errorf("%+v: %d calls, want 1 (serial)", c, calls)
		}
		if c.n >= 7 && c.threads > 1 && c.n >= c.serialBelow && calls < 2 {
			t.Errorf("%+v: %d calls, want the range split", c, calls)
		}
	}
}
