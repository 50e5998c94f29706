package soak

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Relay is a TCP relay between vecgate and Postgres that injects faults: Cut closes connections,
// Stall stops relaying on some for a while. Loopback only, both sides.
type Relay struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	pairs map[*pair]struct{} // guarded by mu
	wg    sync.WaitGroup

	accepted   atomic.Int64
	acceptDone chan struct{}
}

// pair is one relayed connection.
type pair struct {
	client, upstream net.Conn
	stallUntil       atomic.Int64 // Unix ns; relaying waits until then
	closed           atomic.Bool
}

func (p *pair) close() {
	p.closed.Store(true)
	_ = p.client.Close()
	_ = p.upstream.Close()
}

// isLoopback reports whether host:port names a loopback address.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewRelay listens on a loopback port and relays every connection to upstream (a loopback
// host:port).
func NewRelay(upstream string) (*Relay, error) {
	if !isLoopback(upstream) {
		return nil, fmt.Errorf("soak: relay upstream %s is not a loopback address", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, upstream: upstream, pairs: map[*pair]struct{}{}, acceptDone: make(chan struct{})}
	go r.accept()
	return r, nil
}

// Addr is where the relay listens.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

func (r *Relay) accept() {
	defer close(r.acceptDone)
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", r.upstream, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.accepted.Add(1)
		p := &pair{client: c, upstream: u}
		r.mu.Lock()
		r.pairs[p] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(2)
		go r.copy(p, u, c)
		go r.copy(p, c, u)
	}
}

// copy relays src to dst, waiting out stalls, until either side closes.
func (r *Relay) copy(p *pair, dst, src net.Conn) {
	defer r.wg.Done()
	defer func() {
		p.close()
		r.mu.Lock()
		delete(r.pairs, p)
		r.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			for {
				wait := time.Until(time.Unix(0, p.stallUntil.Load()))
				if wait <= 0 || p.closed.Load() {
					break
				}
				time.Sleep(min(wait, 20*time.Millisecond))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, a cut or a reset: the pair closes
		}
	}
}

// Conns is the number of connections relayed now.
func (r *Relay) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pairs)
}

// choose returns up to n connections picked at random (n <= 0: all).
func (r *Relay) choose(rng *rand.Rand, n int) []*pair {
	r.mu.Lock()
	all := make([]*pair, 0, len(r.pairs))
	for p := range r.pairs {
		all = append(all, p)
	}
	r.mu.Unlock()
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if n > 0 && n < len(all) {
		all = all[:n]
	}
	return all
}

// Cut closes up to n relayed connections chosen at random (n <= 0: all); it returns how many.
func (r *Relay) Cut(rng *rand.Rand, n int) int {
	ps := r.choose(rng, n)
	for _, p := range ps {
		p.close()
	}
	return len(ps)
}

// Stall stops relaying on up to n connections chosen at random for d; it returns how many.
func (r *Relay) Stall(rng *rand.Rand, n int, d time.Duration) int {
	ps := r.choose(rng, n)
	until := time.Now().Add(d).UnixNano()
	for _, p := range ps {
		p.stallUntil.Store(until)
	}
	return len(ps)
}

// Close stops listening, closes every connection and waits for the relay's goroutines.
func (r *Relay) Close() {
	_ = r.ln.Close()
	<-r.acceptDone
	r.Cut(rand.New(rand.NewPCG(1, 1)), 0)
	r.wg.Wait()
}
