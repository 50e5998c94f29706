package bench

import (
	"runtime"
	"sync"
	"time"

	"github.com/vecgate/vecgate/vecmath"
)

// MemoryBandwidth measures read bandwidth in GB/s: threads goroutines
// (0 = GOMAXPROCS) stream over a 512 MiB float32 array with the SIMD dot
// kernel (the same instruction mix as an exact scan), best of three passes.
func MemoryBandwidth(threads int) float64 {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	const n = 128 << 20 // floats
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = float32(i & 7)
	}
	ones := make([]float32, 4096)
	for i := range ones {
		ones[i] = 1
	}
	best := 0.0
	var sink float32
	var mu sync.Mutex
	for range 3 {
		start := time.Now()
		var wg sync.WaitGroup
		chunk := n / threads
		for t := range threads {
			wg.Go(func() {
				var s float32
				part := buf[t*chunk : (t+1)*chunk]
				for i := 0; i+4096 <= len(part); i += 4096 {
					s += vecmath.Dot(part[i:i+4096], ones)
				}
				mu.Lock()
				sink += s
				mu.Unlock()
			})
		}
		wg.Wait()
		if gbs := float64(n*4) / time.Since(start).Seconds() / 1e9; gbs > best {
			best = gbs
		}
	}
	_ = sink
	return best
}
