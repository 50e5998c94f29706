package sqlbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/pgvector/pgvector-go"
)

// A cell may run its clients in a child process (Options.ClientCommand): then the client's CPU
// time, garbage collection and encoding of the query vectors are not charged to the vecgate
// measured in this process — as with an application in its own process. The parent writes the
// cell to a file, the child (RunClient, `vecgate bench client FILE`) runs it and prints the
// measurement as JSON.

// cellFile is a cell as the parent hands it to the child.
type cellFile struct {
	DSN        string      `json:"dsn"`
	Setup      []string    `json:"setup"`
	SQL        string      `json:"sql"`
	Queries    [][]float32 `json:"queries"`
	Truth      [][]int32   `json:"truth"`
	K          int         `json:"k"`
	Clients    int         `json:"clients"`
	Duration   string      `json:"duration"`
	TextParams bool        `json:"text_params"`
}

// measuredFile is the child's answer.
type measuredFile struct {
	Row  Row   `json:"row"`
	Sent int64 `json:"sent"`
}

// runExternal runs c through the child command argv (the cell file's name appended).
func (c cell) runExternal(ctx context.Context, argv []string) (measured, error) {
	f := cellFile{DSN: c.dsn, Setup: c.setup, SQL: c.sql, Truth: c.truth, K: c.k, Clients: c.clients,
		Duration: c.duration.String(), TextParams: c.textParams}
	for _, q := range c.queries {
		f.Queries = append(f.Queries, q.Slice())
	}
	tmp, err := os.CreateTemp("", "vecgate-bench-cell-*.json")
	if err != nil {
		return measured{}, err
	}
	defer os.Remove(tmp.Name())
	if err := json.NewEncoder(tmp).Encode(f); err != nil {
		tmp.Close()
		return measured{}, err
	}
	if err := tmp.Close(); err != nil {
		return measured{}, err
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], tmp.Name())...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return measured{}, fmt.Errorf("client process: %w", err)
	}
	var m measuredFile
	if err := json.Unmarshal(out, &m); err != nil {
		return measured{}, fmt.Errorf("client process: %w", err)
	}
	return measured{Row: m.Row, sent: m.Sent}, nil
}

// RunClient runs the cell in file (written by a parent bench run) in this process and writes
// its measurement to w as JSON.
func RunClient(ctx context.Context, file string, w io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var f cellFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("bench client: %s: %w", file, err)
	}
	d, err := time.ParseDuration(f.Duration)
	if err != nil {
		return fmt.Errorf("bench client: %s: %w", file, err)
	}
	c := cell{dsn: f.DSN, setup: f.Setup, sql: f.SQL, truth: f.Truth, k: f.K, clients: f.Clients, duration: d, textParams: f.TextParams}
	for _, q := range f.Queries {
		c.queries = append(c.queries, pgvector.NewVector(q))
	}
	m, err := c.run(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(measuredFile{Row: m.Row, Sent: m.sent})
}
