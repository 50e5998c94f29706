// Package quant holds vecgate's vector codecs, which shrink the memory an
// index needs per vector: quant/sq8 (Lucene-style int8 scalar quantisation),
// quant/binary (one sign bit per dimension) and, here, Matryoshka
// truncation. Codecs encode, compute distances on codes and account for
// memory; they know nothing about graphs or lists (ann/ uses them).
//
// Every quantised index keeps the option of a full-precision rerank of an
// oversampled candidate set, either in memory or in Postgres through the
// proxy's id-list rewrite.
package quant
