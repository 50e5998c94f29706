// Package vectext reads pgvector's text format of a vector, `[0.0123,-0.44,…]`, exactly as
// pgvector's vector_in does: the same accepted texts, the same float32 values bit for bit, and
// for every text it rejects the same SQLSTATE, message and detail (Error).
//
// vector_in skips whitespace (space, \t, \n, \r, \v, \f) around the brackets and the elements,
// reads each element with C's strtof — which rounds the decimal once, directly to float32, and
// also reads hexadecimal floats (`0x1p3`), `inf`, `infinity` and `nan`, the last three then
// refused — and checks the dimension limit (16,000) before each element. Parse takes the same
// steps in the same order, so the first error it meets is the one Postgres raises.
//
// The common element, `[-]digits[.digits]` followed by ',' or ']' (what JSON.stringify, Python's
// repr and pgvector itself print), is read eight bytes at a time (fastRun) and converted by a
// path that proves its result. With at most 15 places (the 8–9 digits of float32 prints) the
// significand and the power of ten are exact float64 values: their quotient is rounded once to
// float64 and then to float32, unless the float64 is a float32 tie (the one case where rounding
// twice differs from rounding once). With more places (float64 reprs, up to 19 significant
// digits) one 64×64-bit product with a power of ten is rounded, when the product's error bound
// settles the rounding (productFloat32). The fast path takes no branch on what comes at random
// from one element to the next (signs, which of the two cases a product falls in), so the CPU
// does not mispredict its way through a vector. Anything else — other spellings, more than 19
// significant digits, results too near a tie, subnormal or overflowing results, hexadecimal
// floats — is read by the general path (element) and converted by strconv.ParseFloat(…, 32),
// which rounds correctly to float32 as glibc's strtof does. Nothing allocates per element: Parse
// allocates the result once, Append none when its destination has room, and a text in a
// protocol message's bytes is read in place.
//
// The package is a leaf: it imports only the standard library, and does no I/O.
package vectext
