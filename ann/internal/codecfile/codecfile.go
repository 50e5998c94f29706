// Package codecfile writes and reads the parameters of a quantisation codec inside an index
// file (an internal/fileformat container), so every index that stores a codec stores it the
// same way and checks it the same way on load. It owns no file layout beyond the codec's own
// fields; where they stand in a file is the index's choice.
package codecfile

import (
	"math"

	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/quant/sq8"
)

// WriteSQ8 appends an SQ8 codec's range and confidence (its Dims is the index's to keep).
func WriteSQ8(e *fileformat.Encoder, c *sq8.Codec) {
	e.F32(c.Lower)
	e.F32(c.Upper)
	e.F64(c.Confidence)
}

// ReadSQ8 reads what WriteSQ8 wrote, for vectors of dims dimensions. A range that is empty or
// not finite, or a confidence outside (0, 1], fails d; errors stay in d (the codec returned
// then is not to be used).
func ReadSQ8(d *fileformat.Decoder, dims int) *sq8.Codec {
	lo, hi, conf := d.F32(), d.F32(), d.F64()
	if d.Err() == nil && (!(hi > lo) || !(conf > 0 && conf <= 1) || math.IsInf(float64(hi-lo), 0)) {
		d.Fail("bad sq8 range [%v, %v] confidence %v", lo, hi, conf)
	}
	return &sq8.Codec{Dims: dims, Lower: lo, Upper: hi, Confidence: conf}
}
