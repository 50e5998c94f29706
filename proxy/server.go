package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server accepts client sessions and relays each to its own upstream connection.
type Server struct {
	cfg Config
	log *slog.Logger
	obs Observer // cfg.Observer, or one that observes nothing
	up  *upstream

	ln       net.Listener
	sem      chan struct{} // one token per live session (MaxConns)
	accepted sync.WaitGroup
	sessWG   sync.WaitGroup
	closing  atomic.Bool
	nextID   atomic.Uint64
	ownTrips atomic.Uint64 // round trips vecgate made upstream for itself (see OwnRoundTrips)

	// descs are the RowDescriptions Postgres gave intercepted statements' rewritten runs, by
	// their description key (descKey): shared by the sessions, so a session's first statement of
	// a shape can be answered from memory when another session taught vecgate its description.
	// A description depends only on what the key holds (the relation, the output columns'
	// names, kinds and types, the result formats); each session still runs its table check.
	descMu sync.Mutex
	descs  map[string][]byte // guarded by descMu; bounded by maxDescs

	mu       sync.Mutex
	sessions map[*session]struct{} // guarded by mu
	keys     map[uint32]*session   // cancel keys handed to clients, by process id; guarded by mu
	nextPID  uint32                // guarded by mu
}

// New validates cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: config: %w", err)
	}
	up, err := newUpstream(cfg.Upstream, cfg.DialTimeout)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream: %w", err)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		obs:      cfg.Observer,
		up:       up,
		sem:      make(chan struct{}, cfg.MaxConns),
		sessions: make(map[*session]struct{}),
		keys:     make(map[uint32]*session),
		nextPID:  uint32(seed[0])<<8 | uint32(seed[1]) | 1<<20,
	}, nil
}

// Start listens on cfg.Listen and accepts sessions in the background until Shutdown or Close.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("proxy: listen: %w", err)
	}
	s.ln = ln
	s.accepted.Add(1)
	go s.acceptLoop()
	s.log.Info("listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) acceptLoop() {
	defer s.accepted.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
			_ = tc.SetKeepAlive(true)
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.sessWG.Add(1)
			go func() {
				defer s.sessWG.Done()
				refuse(c, "53300", "sorry, too many clients already")
			}()
			continue
		}
		sess := newSession(s, c)
		s.mu.Lock()
		s.sessions[sess] = struct{}{}
		s.mu.Unlock()
		s.sessWG.Add(1)
		go func() {
			defer s.sessWG.Done()
			defer func() { <-s.sem }()
			sess.run()
			s.mu.Lock()
			delete(s.sessions, sess)
			if sess.pid != 0 {
				delete(s.keys, sess.pid)
			}
			s.mu.Unlock()
		}()
	}
}

// refuse answers a client before its startup with a FATAL error and closes it. The client's
// startup packet is read first (bounded) so that clients that write before reading see the error.
func refuse(c net.Conn, code, msg string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = newReader(c, maxStartupLen).startup()
	_, _ = c.Write(errorResponse("FATAL", code, msg))
}

// Shutdown stops accepting, then waits for sessions to end until ctx is done, when it closes those
// still open. It returns ctx's error if it had to cut sessions short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.accepted.Wait()
	done := make(chan struct{})
	go func() { s.sessWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		n := len(s.sessions)
		for sess := range s.sessions {
			sess.close()
		}
		s.mu.Unlock()
		s.log.Warn("shutdown deadline: closing sessions", "sessions", n)
		<-done
		return ctx.Err()
	}
}

// Close stops the server at once, closing every session.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// SessionsAccepted counts the sessions accepted since Start.
func (s *Server) SessionsAccepted() uint64 { return s.nextID.Load() }

// OwnRoundTrips counts the round trips to Postgres vecgate made on sessions' connections for
// itself since Start: intercepted statements' rounds, table checks, WAL positions, savepoints.
func (s *Server) OwnRoundTrips() uint64 { return s.ownTrips.Load() }

// SessionInfo describes a live client session.
type SessionInfo struct {
	ID              uint64
	RemoteAddr      string
	User, Database  string
	ApplicationName string
	Started         time.Time
	State           State
}

// Sessions lists the live sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess.info())
	}
	return out
}

// register hands the session a cancel key of its own, with a secret as long as the upstream's.
func (s *Server) register(sess *session, secretLen int) {
	secret := make([]byte, secretLen)
	_, _ = rand.Read(secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.nextPID++
		if s.nextPID == 0 {
			continue
		}
		if _, taken := s.keys[s.nextPID]; !taken {
			break
		}
	}
	sess.pid, sess.secret = s.nextPID, secret
	s.keys[sess.pid] = sess
}

// cancel routes a client's CancelRequest to the session it names: to its upstream backend, or
// to its running interception (cancel.go). As in Postgres, a request with an unknown key is
// silently ignored.
func (s *Server) cancel(pid uint32, secret []byte) {
	s.mu.Lock()
	sess := s.keys[pid]
	s.mu.Unlock()
	if sess == nil || len(secret) != len(sess.secret) || subtle.ConstantTimeCompare(secret, sess.secret) != 1 {
		s.log.Info("cancel request with unknown key ignored", "pid", pid)
		return
	}
	sess.interrupt(errUserCancel)
}

// catalogEpoch is Config.Catalog's epoch (0 without one).
func (s *Server) catalogEpoch() uint64 {
	if s.cfg.Catalog == nil {
		return 0
	}
	return s.cfg.Catalog.CatalogEpoch()
}
