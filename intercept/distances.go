package intercept

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgdist"
)

// calibration asks the upstream once which distances vecgate computes bit for bit as it does
// (pgdist), when an answer from memory first needs to know; a failure (no connection, no
// extension yet) is asked again after calibrationRetry, and answers nil meanwhile.
type calibration struct {
	dsn string
	log *slog.Logger

	mu     sync.Mutex
	result *pgdist.Calibration
	failed time.Time
}

const calibrationRetry = 30 * time.Second

func (c *calibration) get() *pgdist.Calibration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.result != nil || time.Since(c.failed) < calibrationRetry {
		return c.result
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err == nil {
		defer conn.Close(context.Background())
		c.result, err = pgdist.Calibrate(ctx, func(ctx context.Context, sql string, dest ...any) error {
			return conn.QueryRow(ctx, sql, pgx.QueryExecModeSimpleProtocol).Scan(dest...)
		})
	}
	if err != nil {
		c.failed = time.Now()
		c.log.Info("distances not calibrated; answers from memory print vecgate's own", "err", err)
		return nil
	}
	c.log.Info("distances calibrated: printed from memory as the server computes them", "operators", c.result.String())
	return c.result
}
