package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/replication"
)

// progressBar keeps one status line at the bottom of a terminal while log lines scroll above it:
// it is the log's writer, and every write first clears the line and then redraws it.
type progressBar struct {
	mu   sync.Mutex
	w    io.Writer
	line string // guarded by mu; "" when no bar is shown
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

const clearLine = "\r\x1b[K"

// Write writes p (log output) above the bar.
func (b *progressBar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.line != "" {
		io.WriteString(b.w, clearLine) //nolint:errcheck // the log write below reports failures
	}
	n, err := b.w.Write(p)
	if b.line != "" {
		io.WriteString(b.w, b.line) //nolint:errcheck
	}
	return n, err
}

// set shows line as the bar ("" removes it).
func (b *progressBar) set(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if line == b.line {
		return
	}
	io.WriteString(b.w, clearLine+line) //nolint:errcheck // best effort on a terminal
	b.line = line
}

// isTerminal reports whether w is a character device (a terminal), without a dependency.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runProgressBar shows the initial load's progress on bar until the load is done (replication
// streaming) or ctx ends; it returns at once when interception is off.
func runProgressBar(ctx context.Context, g *gateway.Gateway, bar *progressBar) {
	if g.Stream() == nil {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	defer bar.set("")
	for {
		st := g.Stream().Status()
		switch st.State {
		case replication.StateStreaming:
			return
		case replication.StateLoading:
			bar.set(formatProgressBar(g.Observer().LoadProgress(), 24))
		default:
			bar.set(fmt.Sprintf("vecgate: replication %s", st.State))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// formatProgressBar renders load progress as one terminal line with a bar width cells wide:
//
//	initial load [#########---------------]  38% 380000/1000000 rows  41250 rows/s  ETA 15s
//
// Without a row estimate it shows a count and rate only. The line never ends in a newline.
func formatProgressBar(lp observe.LoadProgress, width int) string {
	count := fmt.Sprintf("%d rows", lp.Rows)
	if frac, ok := lp.Fraction(); ok {
		filled := int(frac * float64(width))
		count = fmt.Sprintf("[%s%s] %3.0f%% %d/%d rows", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
			100*frac, lp.Rows, lp.EstimatedRows)
	}
	return "initial load " + strings.Join(append([]string{count}, lp.RateETA()...), "  ")
}
