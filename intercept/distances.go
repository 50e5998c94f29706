package intercept

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgdist"
)

// calibration asks the upstream which distances vecgate computes bit for bit as it does
// (pgdist), in the background from the interceptor's start: an answer from memory waits for the
// first attempt at most calibrationWait (then prints vecgate's own distances, as when the
// calibration failed); a failure (no connection, no extension yet) is tried again every
// calibrationRetry.
type calibration struct {
	dsn string
	log *slog.Logger

	once   sync.Once
	first  chan struct{} // closed when the first attempt is over
	mu     sync.Mutex
	result *pgdist.Calibration // guarded by mu
}

const (
	calibrationRetry = 30 * time.Second
	calibrationWait  = 2 * time.Second
)

func newCalibration(dsn string, log *slog.Logger) *calibration {
	return &calibration{dsn: dsn, log: log, first: make(chan struct{})}
}

// start runs the attempts until one succeeds or ctx ends.
func (c *calibration) start(ctx context.Context) {
	c.once.Do(func() {
		go func() {
			for {
				res, err := c.attempt(ctx)
				c.mu.Lock()
				c.result = res
				c.mu.Unlock()
				select {
				case <-c.first:
				default:
					close(c.first)
				}
				if err == nil {
					c.log.Info("distances calibrated: printed from memory as the server computes them", "operators", res.String())
					return
				}
				c.log.Info("distances not calibrated; answers from memory print vecgate's own", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(calibrationRetry):
				}
			}
		}()
	})
}

func (c *calibration) attempt(ctx context.Context) (*pgdist.Calibration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return pgdist.Calibrate(ctx, func(ctx context.Context, sql string, dest ...any) error {
		return conn.QueryRow(ctx, sql, pgx.QueryExecModeSimpleProtocol).Scan(dest...)
	})
}

// get returns the calibration (nil when there is none yet), waiting for the first attempt at
// most calibrationWait.
func (c *calibration) get() *pgdist.Calibration {
	select {
	case <-c.first:
	default: // only until the first attempt is over: no timer on every answer after that
		t := time.NewTimer(calibrationWait)
		select {
		case <-c.first:
		case <-t.C:
		}
		t.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result
}
