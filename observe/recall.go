package observe

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/live"
)

// The recall spot-check: a share of the answers vecgate gives from its twins is sampled (the
// query vector, the rows asked for, the keys vecgate used: the rewrite's candidates or the rows
// answered from memory), and each sample's exact answer is computed in the background by a scan
// of the twin's full-precision vectors (live.Index.ExactSearch). recall@k is the share of the
// exact k nearest rows among the keys used; per twin, the mean over its last RecallConfig.Window
// samples is vecgate_recall_spot, on /status and on the status page.
//
// It never slows an answer: Take is a random draw and, for the few that pass, an atomic
// compare of times (at most PerSecond samples a second); Offer copies the sample onto a bounded
// queue and drops it when full; one goroutine runs the scans. The exact answer is computed after
// the statement's, so rows written meanwhile can lower a sample's recall: under heavy writes the
// figure is a lower bound. Twins without full-precision vectors (codes only, truncated) are not
// sampled; statements with a WHERE neither (intercept leaves them out: their exact answer
// depends on columns the twin may not hold).

// RecallConfig configures a Recall.
type RecallConfig struct {
	// Rate is the share of answers sampled, 0..1 (0: off).
	Rate float64
	// PerSecond bounds the samples taken per second. Default 2.
	PerSecond float64
	// Window is the samples per twin the moving mean is taken over. Default 100.
	Window int
	// Queue is the samples waiting for their scan at most; more are dropped. Default 16.
	Queue  int
	Logger *slog.Logger
}

// Recall is the recall spot-check. NewRecall builds it, Start runs its scanner, Close stops it.
// Take and Offer are safe from any goroutine.
type Recall struct {
	cfg      RecallConfig
	interval int64         // ns between samples (1 / PerSecond)
	next     atomic.Int64  // earliest time of the next sample (Unix ns)
	dropped  atomic.Uint64 // samples dropped: the queue was full
	queue    chan recallSample
	log      *slog.Logger

	mu    sync.Mutex
	twins map[twinID]*recallWindow // guarded by mu

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// twinID names a twin as its metrics' labels do (stable across reloads, which replace the
// *live.Index).
type twinID struct{ table, column, metric, source, kind string }

func idOf(ix *live.Index) twinID {
	return twinID{ix.Schema + "." + ix.Table, ix.Column, ix.Metric.String(), ix.Source, ix.Kind()}
}

type recallSample struct {
	ix   *live.Index
	vec  []float32
	k    int
	keys []ann.Key
}

// recallWindow is one twin's last samples.
type recallWindow struct {
	ring    []float64
	next    int
	samples uint64 // since start
}

func (w *recallWindow) add(r float64, size int) {
	if len(w.ring) < size {
		w.ring = append(w.ring, r)
	} else {
		w.ring[w.next] = r
		w.next = (w.next + 1) % size
	}
	w.samples++
}

// RecallFigure is one twin's spot-checked recall.
type RecallFigure struct {
	Mean    float64 // over the last Window samples
	Samples uint64  // since start
}

// NewRecall returns a spot-check configured by cfg (nil when cfg.Rate is 0: off).
func NewRecall(cfg RecallConfig) *Recall {
	if cfg.Rate <= 0 {
		return nil
	}
	if cfg.PerSecond <= 0 {
		cfg.PerSecond = 2
	}
	if cfg.Window <= 0 {
		cfg.Window = 100
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recall{cfg: cfg, interval: int64(float64(time.Second) / cfg.PerSecond), queue: make(chan recallSample, cfg.Queue),
		log: cfg.Logger, twins: map[twinID]*recallWindow{}}
}

// Start runs the scanner until Close.
func (r *Recall) Start() {
	if r == nil || r.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-r.queue:
				r.check(ctx, s)
			}
		}
	}()
}

// Close stops the scanner and waits for it.
func (r *Recall) Close() {
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// Take reports whether to sample this answer: with probability Rate, at most PerSecond a second.
func (r *Recall) Take() bool {
	if r == nil || rand.Float64() >= r.cfg.Rate {
		return false
	}
	now := time.Now().UnixNano()
	next := r.next.Load()
	return now >= next && r.next.CompareAndSwap(next, now+r.interval)
}

// Offer queues a sample (Take said yes): the twin answered the query vector vec, whose exact k
// nearest rows are wanted, with keys. It copies vec and keys and never blocks: a full queue drops
// the sample.
func (r *Recall) Offer(ix *live.Index, vec []float32, k int, keys []ann.Key) {
	if r == nil || ix == nil || k <= 0 || !ix.Exact {
		return
	}
	s := recallSample{ix: ix, vec: slices.Clone(vec), k: k, keys: slices.Clone(keys)}
	select {
	case r.queue <- s:
	default:
		r.dropped.Add(1)
	}
}

// check computes one sample's recall and adds it to its twin's window.
func (r *Recall) check(ctx context.Context, s recallSample) {
	exact, err := s.ix.ExactSearch(ctx, s.vec, s.k+RecallTieSlack)
	if err != nil {
		if !errors.Is(err, ann.ErrEmpty) && ctx.Err() == nil {
			r.log.Debug("recall spot-check", "index", s.ix.Source, "err", err)
		}
		return
	}
	rec, ok := RecallAt(s.k, exact, s.keys)
	if !ok {
		return
	}
	id := idOf(s.ix)
	r.mu.Lock()
	w := r.twins[id]
	if w == nil {
		w = &recallWindow{}
		r.twins[id] = w
	}
	w.add(rec, r.cfg.Window)
	r.mu.Unlock()
}

// RecallTieSlack is how many rows past the k-th the exact answer is read, to see which rows tie
// with it.
const RecallTieSlack = 8

// RecallAt is recall@k of got against the exact answer (ascending by distance, at least k rows
// when the table has them): the share of the exact k nearest found in got. A row of got tied
// with the exact k-th (within 1e-6 relative, float32 sums) counts as found: either of two tied
// rows is a right answer. False when exact is empty.
func RecallAt(k int, exact []ann.Result, got []ann.Key) (float64, bool) {
	k = min(k, len(exact))
	if k == 0 {
		return 0, false
	}
	kth := exact[k-1].Distance
	bound := kth + 1e-6*math.Max(math.Abs(kth), 1e-30)
	have := make(map[ann.Key]struct{}, len(got))
	for _, g := range got {
		have[g] = struct{}{}
	}
	found := 0
	for i, e := range exact {
		if i >= k && e.Distance > bound {
			break
		}
		if _, ok := have[e.Key]; ok {
			found++
		}
	}
	return float64(min(found, k)) / float64(k), true
}

// Figure is ix's spot-checked recall; false before its first sample.
func (r *Recall) Figure(ix *live.Index) (RecallFigure, bool) {
	if r == nil {
		return RecallFigure{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.twins[idOf(ix)]
	if w == nil || len(w.ring) == 0 {
		return RecallFigure{}, false
	}
	sum := 0.0
	for _, v := range w.ring {
		sum += v
	}
	return RecallFigure{Mean: sum / float64(len(w.ring)), Samples: w.samples}, true
}

// Dropped counts the samples dropped because the scanner was behind.
func (r *Recall) Dropped() uint64 {
	if r == nil {
		return 0
	}
	return r.dropped.Load()
}
