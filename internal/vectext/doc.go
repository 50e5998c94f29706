// Package vectext reads pgvector's text format of a vector, `[0.0123,-0.44,…]`, exactly as
// pgvector's vector_in does: the same accepted texts, the same float32 values bit for bit, and
// for every text it rejects the same SQLSTATE, message and detail (Error).
//
// vector_in skips whitespace (space, \t, \n, \r, \v, \f) around the brackets and the elements and
// reads each element with C's strtof, which rounds the decimal once, directly to float32, and
// also accepts hexadecimal floats (`0x1p3`), `inf`, `infinity` and `nan` (the last three then
// rejected by pgvector). Parse follows the same steps in the same order, so that the first error
// it meets is the one Postgres would raise. Each element is converted by a purpose-built path
// (the decimal's digits in a uint64, one 64×64-bit product with a power of ten, and a rounding
// decision it can prove from that product's error bound) and, when it cannot prove the result
// (more than 19 significant digits, a result near a float32 rounding tie, subnormal or
// overflowing results, hexadecimal floats), by strconv.ParseFloat(…, 32), which rounds correctly
// to float32 like glibc's strtof. Neither allocates per element.
//
// The package is a leaf: it imports only the standard library, and does no I/O.
package vectext
