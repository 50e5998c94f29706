package observe

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Counts tallies the statements the proxy offered to the interceptor: intercepted ones (and of
// those, the ones answered from memory or cancelled) and forwarded ones by reason. Add is the
// proxy's counting hook (proxy.Config.Count); Stats reads a snapshot.
type Counts struct {
	mu sync.Mutex
	s  Stats // guarded by mu
}

// Stats are the statement counters of a running gateway.
type Stats struct {
	Intercepted int64 // answered by vecgate (from memory or by the id-list rewrite)
	FastPath    int64 // intercepted and answered from memory (a subset of Intercepted)
	Canceled    int64 // intercepted and then cancelled or timed out (a subset of Intercepted)
	// Forwarded counts statements sent to Postgres as the client sent them, by reason ("" when
	// the proxy gave none).
	Forwarded map[string]int64
}

// Add counts one statement: what is "intercept", "fast", "canceled" or "forward" (with reason).
func (c *Counts) Add(what, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch what {
	case "intercept":
		c.s.Intercepted++
	case "fast":
		c.s.FastPath++
	case "canceled":
		c.s.Canceled++
	case "forward":
		if c.s.Forwarded == nil {
			c.s.Forwarded = map[string]int64{}
		}
		c.s.Forwarded[reason]++
	}
}

// Stats returns a copy of the counters (Forwarded is never nil).
func (c *Counts) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Forwarded = make(map[string]int64, len(c.s.Forwarded))
	for k, v := range c.s.Forwarded {
		s.Forwarded[k] = v
	}
	return s
}

// String is s for a log line: "intercept=9 fast=8 forward:loading=1 …", reasons sorted.
func (s Stats) String() string {
	var forwards []string
	for reason, n := range s.Forwarded {
		forwards = append(forwards, fmt.Sprintf("forward:%s=%d", reason, n))
	}
	slices.Sort(forwards)
	return strings.Join(append([]string{fmt.Sprintf("intercept=%d fast=%d", s.Intercepted, s.FastPath)}, forwards...), " ")
}
