package replication

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vecgate/vecgate/catalog"
)

// Config configures a Stream. Start from DefaultConfig.
type Config struct {
	// DSN of the upstream database (a role with REPLICATION, or superuser; see docs/replication.md).
	// It may name a physical standby (Postgres 16+; see Primary and docs/scale-out.md).
	DSN string
	// Primary is the DSN of DSN's primary when DSN names a physical standby: the publication is
	// made there, and asked to log standby snapshots while a slot is created on the standby
	// (standby.go). Empty: DSN is the primary.
	Primary string
	// Name makes the slot "vecgate_<Name>" and the publication of the same name. Letters, digits
	// and '_' only. Default "main".
	Name string
	// Tables restricts replication to these "schema.table" names; empty means every table the
	// catalog finds usable.
	Tables []string
	// Applier receives the changes. Required.
	Applier Applier
	// SnapshotDir, when set and Applier implements Snapshotter, persists the Applier's state there
	// every SnapshotInterval; only persisted positions are acknowledged to Postgres, and Start
	// resumes from the file. Empty: no snapshots, acknowledge what is applied, and every start
	// is a full initial load.
	SnapshotDir string
	// SnapshotInterval between snapshots while changes arrive. Default 10s. Shorter intervals
	// release upstream WAL sooner and cost a full write of the Applier's state each time.
	SnapshotInterval time.Duration
	// StatusInterval is the longest time between standby status updates. Default 10s (it must
	// stay below the server's wal_sender_timeout, 60s by default).
	StatusInterval time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between sessions. Defaults
	// 100ms and 10s.
	ReconnectMin, ReconnectMax time.Duration
	// ProgressInterval between initial-load progress log lines. Default 5s.
	ProgressInterval time.Duration
	// CatalogInterval is how often, while streaming, the catalog is read again: a new table with
	// a vector column, a new or dropped pgvector index, or a changed key is acted on table by
	// table (with a TableLoader Applier; else a full reload).
	// With vecgate's event trigger upstream (Status.CatalogEvents) such changes are seen at their
	// commit in the stream already, and this check is a safety net. Default 30s; negative
	// disables (Reload still works).
	CatalogInterval time.Duration
	// Logger receives structured logs (the caller names the subsystem: gateway adds
	// subsystem=replication). Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in (DSN and Applier left empty).
func DefaultConfig() Config {
	return Config{
		Name:             "main",
		SnapshotInterval: 10 * time.Second,
		StatusInterval:   10 * time.Second,
		ReconnectMin:     100 * time.Millisecond,
		ReconnectMax:     10 * time.Second,
		ProgressInterval: 5 * time.Second,
		CatalogInterval:  30 * time.Second,
	}
}

var validName = regexp.MustCompile(`^[a-z0-9_]{1,50}$`)

func (c *Config) validate() error {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if !validName.MatchString(c.Name) {
		return fmt.Errorf("replication: config: name %q: lower-case letters, digits and _ only", c.Name)
	}
	if c.DSN == "" {
		return errors.New("replication: config: DSN is required")
	}
	if c.Applier == nil {
		return errors.New("replication: config: Applier is required")
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = d.SnapshotInterval
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = d.StatusInterval
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = d.ReconnectMin
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(d.ReconnectMax, c.ReconnectMin)
	}
	if c.CatalogInterval == 0 {
		c.CatalogInterval = d.CatalogInterval
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = d.ProgressInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := pgconn.ParseConfig(c.DSN); err != nil {
		return fmt.Errorf("replication: config: DSN: %w", err)
	}
	return nil
}

// State is the phase a Stream is in.
type State string

// States.
const (
	StateStarting     State = "starting"
	StateLoading      State = "loading"   // initial load (or resnapshot): forward queries
	StateStreaming    State = "streaming" // applying changes; the Applier is usable
	StateReconnecting State = "reconnecting"
	StateStopped      State = "stopped"
)

// TableStatus says what happens to one table with vector columns.
type TableStatus struct {
	Schema, Name string
	Columns      []string          // replicated vector columns
	Skip         string            // non-empty: the table is not replicated, and why
	SkipColumns  map[string]string // vector columns not replicated, and why
}

// Status is a point-in-time view of a Stream.
type Status struct {
	State        State
	Slot         string
	Publication  string
	Applied      LSN // every transaction committed at or before it is applied
	Persisted    LSN // last snapshot written (0 without snapshots)
	Acknowledged LSN // last position confirmed to Postgres
	ServerWALEnd LSN // latest server WAL end seen
	LagBytes     uint64
	LagTime      time.Duration // commit-to-apply delay of the last transaction; 0 when caught up
	LoadedRows   int64         // rows copied by the last initial load
	RejectedRows int64         // rows refused by the Applier or undecodable, since Start
	Resnapshots  int           // initial loads done since Start (full reloads: every table)
	TableLoads   int           // tables loaded alone since Start (a new table or index: tablesync.go)
	// Loading lists the tables ("schema.table") being loaded alone: until their load is handed
	// over, their queries are answered by the twins they had, if any, or forwarded.
	Loading []string
	// CatalogEvents is set when vecgate's event trigger exists upstream (see CatalogEpoch):
	// other sessions' DDL, GRANT and REVOKE are then seen within replication lag. Without it
	// (it needs a superuser to create) they are seen by the periodic catalog check and the
	// proxy's time bound only.
	CatalogEvents bool
	CatalogEpoch  uint64 // see Stream.CatalogEpoch
	Tables        []TableStatus
	LastError     string
}

// ErrClosed is returned by WaitFor once the Stream is closed.
var ErrClosed = errors.New("replication: stream closed")

// errResync asks the session loop to drop everything and load again.
var errResync = errors.New("resynchronise")

// Stream replicates the vector columns of one database into an Applier.
type Stream struct {
	cfg      Config
	log      *slog.Logger
	slot     string
	pub      string
	snapshot Snapshotter // nil when snapshots are off

	mu           sync.Mutex // guards status, advanced, started, eventsLogged, forced
	status       Status
	advanced     chan struct{} // closed (and replaced) whenever status.Applied advances
	started      bool
	eventsLogged bool            // the first session said whether the event trigger is there
	forced       map[string]bool // tables Refresh asked to load again

	cancel context.CancelFunc
	done   chan struct{}
	reload chan struct{} // Reload's request; buffered, one pending at most
	// refresh is Refresh's request (buffered, one pending at most): read the catalog again at
	// the next transaction boundary.
	refresh chan struct{}

	// WaitFor asks the server for a keepalive (which carries its WAL position) instead of
	// waiting for the next one: wantReply is set and wake interrupts the receive.
	wantReply atomic.Bool
	wake      atomic.Pointer[context.CancelFunc]

	// catalogEpoch counts catalog changes seen in the stream (CatalogEpoch).
	catalogEpoch atomic.Uint64
	// syncSeq numbers the temporary slots of tables loaded alone.
	syncSeq atomic.Uint64
	// syncWG counts the goroutines of tables' loads (tablesync.go).
	syncWG sync.WaitGroup
	// onStandby: this session's upstream is in recovery (standby.go); set at each session's start.
	onStandby atomic.Bool

	// Owned by the run goroutine.
	haveData  bool   // the Applier holds a consistent state as of status.Applied
	signature string // of the targets that state covers
	lastSnap  time.Time
	tables    map[string]*tableTarget // by "schema.table"
	rels      map[uint32]*relInfo     // by relation OID, from Relation messages of this session
	relMsgs   map[uint32]msgRelation  // the latest Relation message of each relation, this session
	syncs     map[uint32]*tableSync   // tables being loaded alone, by relation OID (tablesync.go)
	txnFinal  LSN                     // commit LSN of the transaction being applied
	txnXid    uint32                  // its xid (catalogwait.go)
	inTxn     bool
	skipTxn   bool
	lastAck   time.Time
	lastSent  LSN
	// catalogTxn: the transaction being applied changed the catalog (a 'vecgate.catalog'
	// message from the event trigger).
	catalogTxn bool
	// fingerprint of the catalog the session's targets were read from, and the connection
	// that reads it again.
	fingerprint string
	conn        *pgx.Conn
	lastCheck   time.Time
	refreshDue  bool // Refresh asked for a catalog check
	// loadsDeferred: tables to load alone waited for others (maxTableLoads).
	loadsDeferred bool
	// twinsChanged: tables' twins were retired or loaded alone since the last snapshot (which
	// is then written even if the position did not move).
	twinsChanged bool
	// persistDue: a forced snapshot waited for the one being finished (snapshot.go).
	persistDue bool

	// Snapshots being finished (snapshot.go): snapWG counts the finishing goroutine (one at a
	// time, snapBusy), snapFailed says its last write failed, and dataGen counts initial loads
	// (a snapshot encoded before one is not put in place).
	snapWG     sync.WaitGroup
	snapBusy   atomic.Bool
	snapFailed atomic.Bool
	dataGen    atomic.Uint64
}

// catalogPrefix is the prefix of the logical decoding messages that vecgate's event trigger
// (migrations/sql/000004_catalog_events.up.sql) writes at every catalog change.
const catalogPrefix = "vecgate.catalog"

// CatalogEpoch moves on each time the stream has seen a change of the upstream catalog made by
// any session (DDL, GRANT, REVOKE, policies: what fires vecgate's event trigger) and has reacted
// to it (a replaced or renamed table's twin is retired, a changed catalog reloaded), before
// Status.Applied passes that change's commit: a reader that waited for a position sees the
// epoch of every change committed before it. Anything that was checked against the catalog
// before the epoch moved must be checked again. Without the event trigger (Status.CatalogEvents
// false) it moves only at reloads.
func (s *Stream) CatalogEpoch() uint64 { return s.catalogEpoch.Load() }

// New validates cfg and returns a Stream; Start runs it.
func New(cfg Config) (*Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Stream{
		cfg:      cfg,
		log:      cfg.Logger.With("slot", "vecgate_"+cfg.Name),
		slot:     "vecgate_" + cfg.Name,
		pub:      "vecgate_" + cfg.Name,
		advanced: make(chan struct{}),
		done:     make(chan struct{}),
		reload:   make(chan struct{}, 1),
		refresh:  make(chan struct{}, 1),
	}
	if cfg.SnapshotDir != "" {
		sn, ok := cfg.Applier.(Snapshotter)
		if !ok {
			return nil, errors.New("replication: config: SnapshotDir set but the Applier does not implement Snapshotter")
		}
		s.snapshot = sn
	}
	s.status = Status{State: StateStarting, Slot: s.slot, Publication: s.pub}
	return s, nil
}

// include returns the INCLUDE columns the Applier wants (Includer), by "schema.table".
func (s *Stream) include() map[string][]string {
	in, ok := s.cfg.Applier.(Includer)
	if !ok {
		return nil
	}
	m := in.IncludeColumns()
	out := make(map[string][]string, len(m))
	for t, cols := range m {
		if t != "*" && !strings.Contains(t, ".") {
			t = "public." + t
		}
		out[t] = append(out[t], cols...)
	}
	return out
}

// Slot returns the replication slot's name.
func (s *Stream) Slot() string { return s.slot }

// Start loads the snapshot file (if any) and starts replicating in the background; it returns
// once the background goroutine runs. Errors talking to Postgres are retried there, not
// returned: watch Status. ctx bounds the Stream's whole life (as does Close).
func (s *Stream) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("replication: Start called twice")
	}
	s.started = true
	s.mu.Unlock()
	if s.snapshot != nil {
		s.loadSnapshot()
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go s.run(ctx)
	return nil
}

// Close stops replication, writes a last snapshot when snapshots are on, and waits for every
// goroutine the Stream started. The slot is kept (see DropSlot).
func (s *Stream) Close() error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.cancel()
	<-s.done
	return nil
}

// Reload asks for a full reload (Refresh acts on what changed only): the current replication session ends, the catalog is read
// again, the Applier is Reset with the targets as they are now (new pgvector indexes included)
// and loaded afresh, then streaming resumes. Queries should be forwarded meanwhile (Ready is
// false until the load is done). It returns at once.
func (s *Stream) Reload() {
	select {
	case s.reload <- struct{}{}:
	default: // one is already pending
	}
}

// Refresh asks the stream to read the catalog again at its next transaction boundary, as the
// periodic check (CatalogInterval) does: only what changed for the replicated tables is acted on
// (with a TableLoader, table by table: tablesync.go), and a catalog that did not change (CREATE
// INDEX IF NOT EXISTS of an existing index, an index on a column that is not a vector, GRANT)
// changes nothing. Call it after DDL that vecgate's event trigger would report, when the trigger
// may be missing. tables ("schema.table") are loaded again even if unchanged: what the Applier
// builds for them changed (vecgate's index definitions). It returns at once.
func (s *Stream) Refresh(tables ...string) {
	if len(tables) > 0 {
		s.mu.Lock()
		if s.forced == nil {
			s.forced = map[string]bool{}
		}
		for _, t := range tables {
			if !strings.Contains(t, ".") {
				t = "public." + t
			}
			s.forced[t] = true
		}
		s.mu.Unlock()
	}
	select {
	case s.refresh <- struct{}{}:
	default: // one is already pending
	}
}

// Status returns a copy of the current status.
func (s *Stream) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.CatalogEpoch = s.catalogEpoch.Load()
	st.Tables = append([]TableStatus(nil), st.Tables...)
	st.Loading = slices.Clone(st.Loading)
	if st.ServerWALEnd > st.Applied {
		st.LagBytes = uint64(st.ServerWALEnd - st.Applied)
	}
	return st
}

// Applied returns the applied LSN.
func (s *Stream) Applied() LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.Applied
}

// Ready reports whether the Applier holds the replicated state (streaming, not loading).
func (s *Stream) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.State == StateStreaming
}

// WaitFor blocks until every transaction committed at or before lsn is applied (read-your-writes:
// pass the LSN a session's commit returned, e.g. pg_current_wal_lsn() after it). It returns
// ctx.Err() when ctx ends first and ErrClosed when the Stream is closed.
func (s *Stream) WaitFor(ctx context.Context, lsn LSN) error {
	for asked := false; ; asked = true {
		s.mu.Lock()
		if s.status.Applied >= lsn && s.status.State == StateStreaming {
			s.mu.Unlock()
			return nil
		}
		ch := s.advanced
		s.mu.Unlock()
		if !asked {
			// The position may already be passed by WAL this slot skips (other databases,
			// tables not published): a keepalive tells at once.
			s.wantReply.Store(true)
			if c := s.wake.Load(); c != nil {
				(*c)()
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

func (s *Stream) setState(st State) {
	s.mu.Lock()
	if s.status.State != st {
		s.status.State = st
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
	s.mu.Unlock()
}

// setApplied publishes a new applied position; lag is the commit-to-apply delay (0 when caught up).
func (s *Stream) setApplied(lsn LSN, lag time.Duration) {
	s.mu.Lock()
	if lsn > s.status.Applied || lsn < s.status.Applied && !s.haveData {
		s.status.Applied = lsn
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
	s.status.LagTime = lag
	s.mu.Unlock()
}

func (s *Stream) applied() LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.Applied
}

func (s *Stream) run(ctx context.Context) {
	defer close(s.done)
	defer s.waitSnapshot() // the snapshot being finished
	defer s.syncWG.Wait()  // tables' loads, cancelled with their session
	defer s.setState(StateStopped)
	backoff := s.cfg.ReconnectMin
	for {
		began := time.Now()
		sctx, cancel := context.WithCancel(ctx)
		reloading := make(chan bool, 1)
		go func() {
			select {
			case <-s.reload:
				reloading <- true
				cancel()
			case <-sctx.Done():
				reloading <- false
			}
		}()
		err := s.session(sctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if <-reloading {
			err = fmt.Errorf("%w: reload requested", errResync)
			backoff = 0
		}
		if errors.Is(err, errResync) {
			s.log.Warn("resynchronising: full reload", "reason", err)
			s.haveData = false
		} else {
			s.log.Warn("replication session ended; reconnecting", "err", err, "backoff", backoff)
		}
		s.mu.Lock()
		s.status.LastError = err.Error()
		s.mu.Unlock()
		s.setState(StateReconnecting)
		if time.Since(began) > 30*time.Second {
			backoff = s.cfg.ReconnectMin
		}
		// Jitter so that many instances do not reconnect in lockstep.
		d := backoff/2 + rand.N(backoff/2+1)
		if backoff == 0 {
			d, backoff = 0, s.cfg.ReconnectMin/2
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.ReconnectMax)
	}
}

// session is one connection's worth of replication: discover, publish, resume or load, stream.
func (s *Stream) session(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.cfg.DSN)
	if err != nil {
		return fmt.Errorf("replication: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := s.standbySession(ctx, conn); err != nil {
		return err
	}
	s.rels, s.relMsgs, s.syncs = map[uint32]*relInfo{}, map[uint32]msgRelation{}, map[uint32]*tableSync{}
	defer s.stopSyncs()

	cat, err := catalog.Discover(ctx, conn)
	if err != nil {
		return err
	}
	s.catalogEvents(ctx, conn)
	sig := s.selectTables(cat)
	if sig != s.signature && s.haveData {
		s.log.Info("replicated tables changed: full reload")
		s.haveData = false
	}
	if err := s.publish(ctx, conn, s.tables); err != nil {
		return err
	}

	rcfg, err := pgconn.ParseConfig(s.cfg.DSN)
	if err != nil {
		return fmt.Errorf("replication: parse DSN: %w", err)
	}
	rcfg.RuntimeParams["replication"] = "database"
	rcfg.RuntimeParams["application_name"] = s.slot
	rconn, err := pgconn.ConnectConfig(ctx, rcfg)
	if err != nil {
		return fmt.Errorf("replication: connect for replication: %w", err)
	}
	defer rconn.Close(context.WithoutCancel(ctx))

	var (
		confirmed LSN
		walStatus string
		activePID *int32
		exists    = true
	)
	err = conn.QueryRow(ctx, `SELECT coalesce(confirmed_flush_lsn, '0/0'), coalesce(wal_status, ''), active_pid
		FROM pg_replication_slots WHERE slot_name = $1`, s.slot).Scan(&confirmed, &walStatus, &activePID)
	if errors.Is(err, pgx.ErrNoRows) {
		exists = false
	} else if err != nil {
		return fmt.Errorf("replication: look up slot %s: %w", s.slot, err)
	}
	applied := s.applied()
	var start LSN
	switch {
	case exists && activePID != nil:
		return fmt.Errorf("replication: slot %s is in use by backend %d", s.slot, *activePID)
	case exists && s.haveData && walStatus != "lost" && confirmed <= applied:
		start = applied
		s.log.Info("resuming from slot", "from", start, "slot_confirmed", confirmed)
	default:
		reason := "no local state"
		switch {
		case !exists:
			reason = "slot missing"
		case walStatus == "lost":
			reason = "slot invalidated (wal_status lost)"
		case s.haveData && confirmed > applied:
			reason = fmt.Sprintf("slot confirmed %s beyond local state %s", confirmed, applied)
		}
		if exists {
			if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, s.slot); err != nil {
				return fmt.Errorf("replication: drop slot %s: %w", s.slot, err)
			}
		}
		s.log.Info("initial load", "reason", reason)
		start, err = s.initialLoad(ctx, conn, rconn)
		if err != nil {
			return err
		}
		// A catalog change committed after Discover but before the slot existed is in no
		// message the slot will send: read the catalog again now that it exists.
		s.fingerprint, s.conn = catalogFingerprint(cat), conn
		if err := s.checkCatalog(ctx); err != nil {
			return err
		}
	}

	s.inTxn, s.skipTxn, s.catalogTxn = false, false, false
	s.fingerprint, s.conn, s.lastCheck = catalogFingerprint(cat), conn, time.Now()
	defer func() { s.conn = nil }()
	s.catalogEpoch.Add(1) // a new session's targets: whatever was checked before is checked again
	err = pglogrepl.StartReplication(ctx, rconn, s.slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '2'", "publication_names '" + s.pub + "'", "binary 'true'", "messages 'true'"},
	})
	if err != nil {
		return classify(fmt.Errorf("replication: start replication at %s: %w", start, err))
	}
	s.setState(StateStreaming)
	s.lastSent = 0
	return s.stream(ctx, rconn)
}

// catalogEvents reports whether vecgate's event trigger is there and enabled, and logs once
// when it is not.
func (s *Stream) catalogEvents(ctx context.Context, conn *pgx.Conn) {
	var on bool
	err := conn.QueryRow(ctx, `SELECT count(*) = 2 FROM pg_event_trigger
		WHERE evtname IN ('vecgate_catalog_end', 'vecgate_catalog_drop') AND evtenabled <> 'D'`).Scan(&on)
	if err != nil {
		s.log.Warn("could not read pg_event_trigger", "err", err)
	}
	s.mu.Lock()
	was := s.status.CatalogEvents
	s.status.CatalogEvents = on
	first := !s.eventsLogged
	s.eventsLogged = true
	s.mu.Unlock()
	if !on && (was || first) {
		s.log.Warn("vecgate's event trigger is missing (creating it needs a superuser at migration): " +
			"other sessions' GRANT, REVOKE and DDL are seen within the proxy's 10 s bound and the periodic catalog check, not within replication lag")
	}
}

// checkCatalog reads the catalog again and acts on what changed for the replicated tables: with a
// TableLoader, table by table (applyCatalog); without, a changed catalog or a table Refresh
// named asks for a full reload.
func (s *Stream) checkCatalog(ctx context.Context) error {
	s.lastCheck = time.Now()
	cat, err := catalog.Discover(ctx, s.conn)
	if err != nil {
		return fmt.Errorf("replication: read catalog: %w", err)
	}
	s.mu.Lock()
	forced := s.forced
	s.forced = nil
	s.mu.Unlock()
	if loader, ok := s.cfg.Applier.(TableLoader); ok {
		if err := s.applyCatalog(ctx, cat, loader, forced); err != nil {
			return fmt.Errorf("%w: %w", errResync, err)
		}
		s.fingerprint = catalogFingerprint(cat)
		return nil
	}
	if catalogFingerprint(cat) != s.fingerprint || len(forced) > 0 {
		return fmt.Errorf("%w: catalog changed (tables, keys, vector columns or pgvector indexes)", errResync)
	}
	return nil
}

// catalogFingerprint summarises what of the catalog the indexes depend on: every table with a
// vector column, its key, its vector columns and their pgvector indexes.
func catalogFingerprint(cat *catalog.Catalog) string {
	h := sha256.New()
	for _, t := range cat.Tables {
		fmt.Fprintf(h, "t:%s|%d|%s|", t.QualifiedName(), t.OID, t.Skip)
		for _, k := range t.Key {
			fmt.Fprintf(h, "k:%s:%d|", k.Name, k.TypeOID)
		}
		for _, v := range t.Vectors {
			fmt.Fprintf(h, "v:%s:%d:%s|", v.Name, v.TypMod, v.Skip)
		}
		for _, ix := range t.Indexes {
			fmt.Fprintf(h, "i:%s:%s:%s:%d:%d:%d:%v:%s:%s:%d|", ix.Name, ix.Method, ix.Opclass, ix.M, ix.EfConstruction, ix.Lists, ix.Valid, ix.Column, ix.Expr, ix.ExprDims)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// classify turns server errors that mean "the slot cannot continue" into errResync.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "55000", // object_not_in_prerequisite_state: slot invalidated, WAL removed
			"42704", // undefined_object: slot or publication missing
			"58P01": // undefined_file: required WAL segment removed
			return fmt.Errorf("%w: %w", errResync, err)
		}
	}
	return err
}

// ackLSN is the position that may be confirmed to Postgres.
func (s *Stream) ackLSN() LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snapshot != nil {
		return s.status.Persisted
	}
	return s.status.Applied
}

func (s *Stream) sendStatus(rconn *pgconn.PgConn, force bool) error {
	ack := s.ackLSN()
	if !force && (ack == s.lastSent && time.Since(s.lastAck) < s.cfg.StatusInterval ||
		ack != s.lastSent && time.Since(s.lastAck) < 100*time.Millisecond) {
		return nil
	}
	if err := pglogrepl.SendStandbyStatusUpdate(context.Background(), rconn,
		pglogrepl.StandbyStatusUpdate{WALWritePosition: ack}); err != nil {
		return fmt.Errorf("replication: send status update at %s: %w", ack, err)
	}
	s.lastSent, s.lastAck = ack, time.Now()
	s.mu.Lock()
	s.status.Acknowledged = ack
	s.mu.Unlock()
	return nil
}

func (s *Stream) stream(ctx context.Context, rconn *pgconn.PgConn) error {
	for {
		select {
		case <-s.refresh:
			s.refreshDue = true
		default:
		}
		due := s.refreshDue || s.cfg.CatalogInterval > 0 && time.Since(s.lastCheck) >= s.cfg.CatalogInterval
		if due && !s.inTxn {
			s.refreshDue = false
			if err := s.checkCatalog(ctx); err != nil {
				return err
			}
		}
		if !s.inTxn && len(s.syncs) > 0 {
			if err := s.handOver(); err != nil {
				return err
			}
		}
		if err := s.maybePersist(false); err != nil {
			return err
		}
		if err := s.sendStatus(rconn, false); err != nil {
			return err
		}
		if s.wantReply.Swap(false) {
			if err := pglogrepl.SendStandbyStatusUpdate(context.Background(), rconn,
				pglogrepl.StandbyStatusUpdate{WALWritePosition: s.ackLSN(), ReplyRequested: true}); err != nil {
				return fmt.Errorf("replication: request keepalive: %w", err)
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		s.wake.Store(&cancel)
		if s.wantReply.Load() { // asked between the check above and now
			cancel()
		}
		raw, err := rconn.ReceiveMessage(rctx)
		s.wake.Store(nil)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				if !s.inTxn {
					s.waitSnapshot()
					if err := s.maybePersist(true); err != nil {
						s.log.Warn("final snapshot", "err", err)
					}
					s.waitSnapshot() // durable before its position is acknowledged
					_ = s.sendStatus(rconn, true)
				}
				return ctx.Err()
			}
			if pgconn.Timeout(err) || errors.Is(err, context.Canceled) && !rconn.IsClosed() {
				continue
			}
			return fmt.Errorf("replication: receive: %w", err)
		}
		switch m := raw.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				k, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("replication: keepalive: %w", err)
				}
				s.seenServerEnd(k.ServerWALEnd)
				// Everything committed before ServerWALEnd has been sent: outside a transaction
				// the applied position may move there (this is how writes to tables vecgate
				// does not replicate become visible to WaitFor).
				if !s.inTxn && k.ServerWALEnd > s.applied() {
					if err := s.cfg.Applier.Commit(k.ServerWALEnd); err != nil {
						return fmt.Errorf("replication: commit at %s: %w", k.ServerWALEnd, err)
					}
					s.setApplied(k.ServerWALEnd, 0)
				}
				if k.ReplyRequested {
					if err := s.sendStatus(rconn, true); err != nil {
						return err
					}
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("replication: xlogdata: %w", err)
				}
				s.seenServerEnd(x.ServerWALEnd)
				if err := s.handle(ctx, x.WALStart, x.WALData); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			return classify(fmt.Errorf("replication: server: %w", pgconn.ErrorResponseToPgError(m)))
		case *pgproto3.CopyDone:
			return errors.New("replication: server ended the stream")
		default:
			s.log.Debug("unexpected message", "type", fmt.Sprintf("%T", raw))
		}
	}
}

func (s *Stream) seenServerEnd(lsn LSN) {
	s.mu.Lock()
	if lsn > s.status.ServerWALEnd {
		s.status.ServerWALEnd = lsn
	}
	s.mu.Unlock()
}
