package hnsw

import (
	"fmt"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/quant/sq8"
	"github.com/vecgate/vecgate/vecmath"
)

// maxTrainRows bounds the rows sampled to train a codec.
const maxTrainRows = 20000

// ensureCodec trains the SQ8 codec from sample rows if the index is
// quantised and has none yet.
func (x *Index) ensureCodec(sample []float32) error {
	if !x.quant {
		return nil
	}
	x.mu.RLock()
	ok := x.sq != nil
	x.mu.RUnlock()
	if ok {
		return nil
	}
	c, err := x.trainCodec(sample)
	if err != nil {
		return err
	}
	x.mu.Lock()
	if x.sq == nil {
		x.sq = c
	}
	x.mu.Unlock()
	return nil
}

// trainCodec trains on a strided sample of rows (normalised for cosine).
func (x *Index) trainCodec(data []float32) (*sq8.Codec, error) {
	d := x.cfg.Dims
	n := len(data) / d
	step := max(1, n/maxTrainRows)
	sample := make([]float32, 0, min(n, maxTrainRows+1)*d)
	for i := 0; i < n; i += step {
		start := len(sample)
		sample = append(sample, data[i*d:(i+1)*d]...)
		if x.cfg.Metric == ann.Cosine {
			vecmath.Normalize(sample[start:])
		}
	}
	return sq8.Train(sample, d, sq8Confidence(x.cfg.Metric, x.cfg.SQ8Confidence))
}

// encode writes vec's codes (normalised first for cosine) and returns the
// correction term.
func (x *Index) encode(vec []float32, dst []uint8) float32 {
	if x.cfg.Metric == ann.Cosine {
		n := append([]float32(nil), vec...)
		vecmath.Normalize(n)
		vec = n
	}
	return x.sq.Encode(vec, dst)
}

// Codec returns the SQ8 codec of a quantised index (nil otherwise or before
// training).
func (x *Index) Codec() *sq8.Codec {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.sq
}

// Drift returns how far sample (rows of new data) moves the SQ8 quantiles,
// as a fraction of the codec's range (see sq8.Codec.Drift); 0 for an
// unquantised index.
func (x *Index) Drift(sample []float32) (float64, error) {
	x.mu.RLock()
	c := x.sq
	x.mu.RUnlock()
	if c == nil {
		return 0, nil
	}
	if x.cfg.Metric == ann.Cosine {
		d := x.cfg.Dims
		s := append([]float32(nil), sample...)
		for i := 0; i+d <= len(s); i += d {
			vecmath.Normalize(s[i : i+d])
		}
		sample = s
	}
	return c.Drift(sample)
}

// RequantizeIfDrifted re-quantises the index when sample drifts past tol
// (0: sq8.DefaultDriftTolerance): it trains a codec on sample plus the
// index's own vectors (decoded codes when vectors are not kept) and
// re-encodes every node under the exclusive lock. It reports whether it
// re-quantised.
func (x *Index) RequantizeIfDrifted(sample []float32, tol float64) (bool, error) {
	if tol <= 0 {
		tol = sq8.DefaultDriftTolerance
	}
	drift, err := x.Drift(sample)
	if err != nil || drift <= tol {
		return false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.cfg.Dims
	x.allocMu.Lock()
	used := x.used
	x.allocMu.Unlock()
	// Old data as floats.
	old := make([]float32, 0, used*d+len(sample))
	row := make([]float32, d)
	for i := range used {
		if x.dead[i] != 0 {
			continue
		}
		if x.raw {
			old = append(old, x.vec(uint32(i))...)
		} else {
			x.sq.Decode(x.codes.at(uint32(i)), row)
			old = append(old, row...)
		}
	}
	c, err := x.trainCodec(append(old, sample...))
	if err != nil {
		return false, fmt.Errorf("hnsw: requantize: %w", err)
	}
	oldc := x.sq
	x.sq = c
	for i := range used {
		if x.dead[i] != 0 {
			continue
		}
		if x.raw {
			x.corr.at(uint32(i))[0] = x.encode(x.vec(uint32(i)), x.codes.at(uint32(i)))
		} else {
			oldc.Decode(x.codes.at(uint32(i)), row)
			x.corr.at(uint32(i))[0] = x.sq.Encode(row, x.codes.at(uint32(i))) // already normalised
		}
	}
	return true, nil
}

// sq8Confidence picks the quantile confidence: the configured one, else 1
// for inner product and the codec default otherwise (see Config).
func sq8Confidence(m ann.Metric, conf float64) float64 {
	if conf == 0 && m == ann.InnerProduct {
		return 1
	}
	return conf
}
