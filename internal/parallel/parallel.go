// Package parallel splits a range of independent work items over
// goroutines. The indexes (ann/ivf) and the codec trainers (quant/kmeans)
// share it; it imports nothing of vecgate's.
package parallel

import (
	"runtime"
	"sync"
)

// For calls f on contiguous chunks [lo, hi) covering [0, n), one chunk per
// goroutine, threads goroutines (0 or less: GOMAXPROCS), and returns when
// every call has returned. Ranges shorter than serialBelow, or a single
// thread, run in one call on the caller's goroutine. f must be safe to run
// concurrently on disjoint chunks.
func For(n, threads, serialBelow int, f func(lo, hi int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if n < serialBelow || threads == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + threads - 1) / threads
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { f(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}
