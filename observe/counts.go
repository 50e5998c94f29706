package observe

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vecgate/vecgate/proxy"
)

// Counts tallies client statements as the proxy reports them (it is a proxy.Observer):
// intercepted ones, by path, and forwarded ones by reason. It is the one source of these figures
// for the metrics, /status, SHOW vecgate.status, bench sql and the tests (Stats).
type Counts struct {
	mu sync.Mutex
	s  Stats // guarded by mu
}

var _ proxy.Observer = (*Counts)(nil)

// Stats are the statement counters of a running gateway.
type Stats struct {
	Intercepted int64 // answered by vecgate (from memory or by the id-list rewrite), cancelled ones included
	FastPath    int64 // of which answered from memory
	Canceled    int64 // of which ended with 57014 (a cancel, statement_timeout)
	// Forwarded counts statements sent to Postgres as the client sent them, by reason
	// (proxy.Reason; "" when the proxy gave none).
	Forwarded map[string]int64
}

// Forwarded counts a statement sent to Postgres for reason r.
func (c *Counts) Forwarded(r proxy.Reason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s.Forwarded == nil {
		c.s.Forwarded = map[string]int64{}
	}
	c.s.Forwarded[string(r)]++
}

// Intercepted counts a statement vecgate answered by path p.
func (c *Counts) Intercepted(p proxy.Path, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Intercepted++
	if p == proxy.PathFast {
		c.s.FastPath++
	}
}

// Canceled counts an intercepted statement that ended with 57014.
func (c *Counts) Canceled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Intercepted++
	c.s.Canceled++
}

// Stats returns a copy of the counters (Forwarded is never nil).
func (c *Counts) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Forwarded = maps.Clone(c.s.Forwarded)
	if s.Forwarded == nil {
		s.Forwarded = map[string]int64{}
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
