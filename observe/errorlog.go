package observe

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrorLog is a slog.Handler that keeps the last warnings and errors logged through it, for the
// status page and /status, and passes every record on to the handler it wraps (those that handler
// enables). serve wraps its logger's handler in one and hands it to the Observer (Config.Errors).
type ErrorLog struct {
	next   slog.Handler
	ring   *errorRing
	prefix string      // group prefix of attributes added later ("g." after WithGroup("g"))
	attrs  []slog.Attr // from WithAttrs, keys already prefixed
}

// LogEntry is one warning or error as the status page shows it.
type LogEntry struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	Attrs   string    `json:"attrs,omitempty"` // key=value …, as the text handler writes them
}

type errorRing struct {
	mu      sync.Mutex
	entries []LogEntry // ring of cap n; guarded by mu
	next    int        // where the next entry goes once full; guarded by mu
	total   int64      // warnings and errors seen; guarded by mu
}

// NewErrorLog wraps next, keeping the last n (default 20) warnings and errors.
func NewErrorLog(next slog.Handler, n int) *ErrorLog {
	if n <= 0 {
		n = 20
	}
	return &ErrorLog{next: next, ring: &errorRing{entries: make([]LogEntry, 0, n)}}
}

// Enabled is true for warnings and errors (kept even when next would drop them) and whatever next
// enables.
func (l *ErrorLog) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelWarn || l.next.Enabled(ctx, lv)
}

// Handle keeps r when it is a warning or an error and passes it on when next enables its level.
func (l *ErrorLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		for _, a := range l.attrs {
			writeAttr(&b, "", a)
		}
		r.Attrs(func(a slog.Attr) bool {
			writeAttr(&b, l.prefix, a)
			return true
		})
		l.ring.add(LogEntry{Time: r.Time.UTC(), Level: r.Level.String(), Message: r.Message, Attrs: strings.TrimSpace(b.String())})
	}
	if l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

// WithAttrs returns a handler sharing l's entries whose records carry attrs.
func (l *ErrorLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *l
	c.next = l.next.WithAttrs(attrs)
	c.attrs = append([]slog.Attr(nil), l.attrs...)
	for _, a := range attrs {
		a.Key = l.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

// WithGroup returns a handler sharing l's entries whose later attributes are in group name.
func (l *ErrorLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	c := *l
	c.next = l.next.WithGroup(name)
	c.prefix = l.prefix + name + "."
	return &c
}

// Last returns the warnings and errors kept, newest first, and how many were logged in all.
func (l *ErrorLog) Last() ([]LogEntry, int64) {
	r := l.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]LogEntry, 0, len(r.entries))
	for i := range r.entries {
		// The newest is just before next (0 until the ring is full: the last one).
		out = append(out, r.entries[(r.next-1-i+2*len(r.entries))%len(r.entries)])
	}
	return out, r.total
}

func (r *errorRing) add(e LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if len(r.entries) < cap(r.entries) {
		r.entries = append(r.entries, e)
		return
	}
	r.entries[r.next] = e
	r.next = (r.next + 1) % len(r.entries)
}

// writeAttr writes " key=value" (groups flattened to group.key), quoting values as the text
// handler does.
func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			writeAttr(b, p, g)
		}
		return
	}
	if a.Equal(slog.Attr{}) {
		return
	}
	s := v.String()
	if s == "" || strings.ContainsAny(s, " \"=\t\n") {
		s = strconv.Quote(s)
	}
	b.WriteString(" " + prefix + a.Key + "=" + s)
}
