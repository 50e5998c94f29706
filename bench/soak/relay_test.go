package soak

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// echoServer accepts connections on loopback and echoes every line back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) (time.Duration, error) {
	t.Helper()
	t0 := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err == nil && line != "ping\n" {
		t.Fatalf("echo %q", line)
	}
	return time.Since(t0), err
}

// TestRelayFaults: the relay relays; a stall delays a round trip by about its length; a cut
// closes the connection.
func TestRelayFaults(t *testing.T) {
	if _, err := NewRelay("192.0.2.1:5432"); err == nil {
		t.Fatal("relay to a non-loopback upstream accepted")
	}
	relay, err := NewRelay(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	c, err := net.Dial("tcp", relay.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := roundTrip(t, c, r); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if n := relay.Stall(rng, 0, 300*time.Millisecond); n != 1 {
		t.Fatalf("stalled %d connections, want 1", n)
	}
	d, err := roundTrip(t, c, r)
	if err != nil || d < 250*time.Millisecond {
		t.Fatalf("round trip during a 300ms stall: %v, %v", d, err)
	}
	if n := relay.Cut(rng, 0); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	if _, err := roundTrip(t, c, r); err == nil {
		t.Fatal("round trip after a cut succeeded")
	}
	for deadline := time.Now().Add(5 * time.Second); relay.Conns() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections relayed after the cut", relay.Conns())
		}
	}
}
