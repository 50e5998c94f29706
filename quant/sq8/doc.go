// Package sq8 is Lucene-style int8 scalar quantisation: every float32
// component is mapped to one byte linearly between a lower and an upper
// quantile of the data, taken from a confidence interval (e.g. the central
// 99%) so outliers do not stretch the range; values outside are clamped.
// Vector memory shrinks 4×.
//
// Distances are computed on the codes with the uint8 kernels of
// vecmath: squared L2 is α²·Σ(a-b)²; the dot product of the
// dequantised vectors is α²·(a·b) + c(a) + c(b), where c(v) is the
// per-vector correction term returned by Encode, so dot products stay
// accurate (α = (upper-lower)/255).
//
// For unit vectors (cosine) indexes rank by squared L2 on codes, which is
// monotone in 1 - cos and robust to clamped components; for inner product
// they use the corrected dot product with min/max quantiles.
//
// The quantiles belong to one index build. Drift measures how far a sample
// of new data moves them; an index re-quantises only when the drift exceeds
// a tolerance, otherwise codes are reused (Lucene's segment-merge rule).
// Clipped measures one vector: the share of its energy outside the range,
// which rounding never causes; past DriftBound (calibrated on the training
// rows) its codes misplace it, and an index keeps it exact instead.
package sq8
