// Package binary is one-bit quantisation: each dimension becomes the sign
// of (v[i] - offset[i]), packed 64 to a word, and distances are Hamming
// distances computed with popcount (vecmath). Vector memory shrinks 32×;
// quality drops and is recovered by reranking an oversampled candidate set
// at full precision. The optional per-dimension offsets (the training
// sample's mean) centre data whose components are not centred on zero.
package binary
