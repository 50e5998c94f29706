package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/observe"
)

func TestFormatProgressBar(t *testing.T) {
	cases := []struct {
		lp   observe.LoadProgress
		want string
	}{
		{observe.LoadProgress{Running: true, Rows: 250, EstimatedRows: 1000, RowsPerSecond: 50, ETASeconds: 15},
			"initial load [##########------------------------------]  25% 250/1000 rows  50 rows/s  ETA 15s"},
		{observe.LoadProgress{Running: true, Rows: 0, EstimatedRows: 1000},
			"initial load [----------------------------------------]   0% 0/1000 rows"},
		{observe.LoadProgress{Running: true, Rows: 1200, EstimatedRows: 1000, RowsPerSecond: 600}, // estimate too low
			"initial load [########################################] 100% 1200/1000 rows  600 rows/s"},
		{observe.LoadProgress{Running: true, Rows: 42, RowsPerSecond: 7.4}, // no estimate
			"initial load 42 rows  7 rows/s"},
	}
	for _, c := range cases {
		if got := formatProgressBar(c.lp, 40); got != c.want {
			t.Errorf("formatProgressBar(%+v) =\n%q\nwant\n%q", c.lp, got, c.want)
		}
	}
}

// TestProgressBarWriter: log lines written while a bar is shown clear it first and redraw it
// after, so the terminal shows the logs scrolling above one bar line.
func TestProgressBarWriter(t *testing.T) {
	var out bytes.Buffer
	b := newProgressBar(&out)
	if _, err := b.Write([]byte("log 1\n")); err != nil {
		t.Fatal(err)
	}
	b.set("BAR")
	if _, err := b.Write([]byte("log 2\n")); err != nil {
		t.Fatal(err)
	}
	b.set("")
	want := "log 1\n" + clearLine + "BAR" + clearLine + "log 2\nBAR" + clearLine
	if got := out.String(); got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}
	if isTerminal(&out) {
		t.Error("a buffer is not a terminal")
	}
	if strings.Contains(formatProgressBar(observe.LoadProgress{Rows: 1}, 10), "\n") {
		t.Error("bar contains a newline")
	}
}
