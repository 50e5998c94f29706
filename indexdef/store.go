package indexdef

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/ann"
)

// DB is what the store needs of a connection to the upstream database (*pgx.Conn, a pool, a
// transaction).
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RowError is a row of vecgate.indexes that Load could not decode.
type RowError struct {
	Schema, Name string
	Err          error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("index definition %s.%s in vecgate.indexes: %v", e.Schema, e.Name, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Load reads the indexes defined through vecgate, oldest first. A row it cannot decode is left
// out of specs and reported in skipped (the other rows still load: one bad row must not keep
// vecgate from starting, nor make every later CREATE INDEX fail); the caller logs them. err is
// for the query itself, and then nothing is returned.
func Load(ctx context.Context, db DB) (specs []Spec, skipped []*RowError, err error) {
	rows, err := db.Query(ctx, `SELECT schema_name, name, table_name, column_name, method, metric, options::text, mode
		FROM vecgate.indexes ORDER BY created_at`)
	if err != nil {
		return nil, nil, fmt.Errorf("load index definitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Spec
		var metric, opts string
		if err := rows.Scan(&s.Schema, &s.Name, &s.Table, &s.Column, &s.Method, &metric, &opts, &s.Mode); err != nil {
			return nil, nil, fmt.Errorf("load index definitions: %w", err)
		}
		if s.Metric, err = ann.ParseMetric(metric); err != nil {
			skipped = append(skipped, &RowError{s.Schema, s.Name, fmt.Errorf("metric: %w", err)})
			continue
		}
		if err := s.DecodeOptions([]byte(opts)); err != nil {
			skipped = append(skipped, &RowError{s.Schema, s.Name, fmt.Errorf("options %s: %w", opts, err)})
			continue
		}
		specs = append(specs, s)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load index definitions: %w", err)
	}
	return specs, skipped, nil
}

// Insert records s unless an index of its schema and name is recorded already; inserted says
// whether it was. Its errors are the driver's, unwrapped: on the DDL path they are the client's
// answer (with the *pgconn.PgError's SQLSTATE).
func Insert(ctx context.Context, db DB, s Spec) (inserted bool, err error) {
	opts, err := s.EncodeOptions()
	if err != nil {
		return false, err
	}
	tag, err := db.Exec(ctx, `INSERT INTO vecgate.indexes (schema_name, name, table_name, column_name, method, metric, options, mode)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (schema_name, name) DO NOTHING`,
		s.Schema, s.Name, s.Table, s.Column, s.Method, s.Metric.String(), string(opts), s.Mode)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// Delete forgets the index schema.name (nothing when it is not recorded). Errors as Insert's.
func Delete(ctx context.Context, db DB, schema, name string) error {
	_, err := db.Exec(ctx, `DELETE FROM vecgate.indexes WHERE schema_name = $1 AND name = $2`, schema, name)
	return err
}
