// Package fileformat is the one container of every binary file vecgate
// writes: saved indexes (ann/flat, ann/hnsw, ann/ivf) and replication's
// snapshots with the payloads inside them (live.Set, replication.Memory).
//
// A container is a header (magic "VECGATE" and a checksum byte, a four-byte
// kind such as "HNSW" or "SNAP", a uint32 version), a body of little-endian
// fields, and a trailing eight-byte checksum of everything before it: CRC-64
// (ECMA) when the checksum byte is 0 (index files, unchanged since format 1),
// CRC-32C zero-extended when it is 1 (snapshots: rewritten every few seconds
// and holding every index, they want the checksum the CPU computes in
// hardware, ≈ 17× faster here). A container may be the last
// field of another's body (a snapshot's payload is). Every decode is
// bounds-checked and errors are sticky, so a truncated or corrupt file
// yields an error wrapping ErrCorrupt, never a panic or a huge allocation.
//
// Two ways to read: [Open] reads a whole file and verifies its checksum
// before anything is decoded (index files); [NewReader] decodes while
// reading and verifies the checksum in [Decoder.End] (snapshots, too large
// to hold twice); its caller must discard what it decoded when End fails.
//
// The package imports nothing of vecgate's: ann.ErrCorrupt is ErrCorrupt,
// and keys are written and read through encoding.BinaryAppender and
// [BinaryDecoder].
package fileformat

import (
	"bufio"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"math"
)

// ErrCorrupt: a file is truncated, has a bad checksum, an unknown version or
// inconsistent contents. ann.ErrCorrupt is this error.
var ErrCorrupt = errors.New("corrupt index file")

var magic = [7]byte{'V', 'E', 'C', 'G', 'A', 'T', 'E'}

// Checksum is the algorithm of a container's trailer, named by the header's eighth byte.
type Checksum uint8

// The checksums.
const (
	// CRC64 is CRC-64 (ECMA), the checksum of index files.
	CRC64 Checksum = 0
	// CRC32C is CRC-32 (Castagnoli), the checksum of snapshots.
	CRC32C Checksum = 1
)

var (
	table64 = crc64.MakeTable(crc64.ECMA)
	table32 = crc32.MakeTable(crc32.Castagnoli)
)

// hasher is a running checksum.
type hasher interface {
	io.Writer
	sum() uint64
}

type hash64 struct{ hash.Hash64 }

func (h hash64) sum() uint64 { return h.Sum64() }

type hash32 struct{ hash.Hash32 }

func (h hash32) sum() uint64 { return uint64(h.Sum32()) }

func (c Checksum) new() hasher {
	if c == CRC32C {
		return hash32{crc32.New(table32)}
	}
	return hash64{crc64.New(table64)}
}

func (c Checksum) of(p []byte) uint64 {
	if c == CRC32C {
		return uint64(crc32.Checksum(p, table32))
	}
	return crc64.Checksum(p, table64)
}

// HeaderSize is the size of magic + kind + version.
const HeaderSize = 16

// trailerSize is the size of the checksum.
const trailerSize = 8

// Encoder writes a container. Errors are sticky: check Finish.
type Encoder struct {
	out io.Writer
	w   *bufio.Writer
	crc hasher
	err error
	b   [8]byte
}

// NewEncoder writes the header of a container checksummed with CRC-64 for kind (4 bytes) and
// version.
func NewEncoder(w io.Writer, kind string, version uint32) *Encoder {
	return NewEncoderWith(w, kind, version, CRC64)
}

// NewEncoderWith writes the header of a container checksummed with sum.
func NewEncoderWith(w io.Writer, kind string, version uint32, sum Checksum) *Encoder {
	crc := sum.new()
	e := &Encoder{out: w, w: bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16), crc: crc}
	e.raw(magic[:])
	e.U8(uint8(sum))
	var k [4]byte
	copy(k[:], kind)
	e.raw(k[:])
	e.U32(version)
	return e
}

func (e *Encoder) raw(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

// Write writes p into the body unframed (for a nested container, which
// must then be the body's last field); it implements io.Writer.
func (e *Encoder) Write(p []byte) (int, error) {
	e.raw(p)
	if e.err != nil {
		return 0, e.err
	}
	return len(p), nil
}

// U8 writes v.
func (e *Encoder) U8(v uint8) {
	e.b[0] = v
	e.raw(e.b[:1])
}

// Bool writes v as one byte, 1 or 0.
func (e *Encoder) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}

// U32 writes v.
func (e *Encoder) U32(v uint32) {
	binary.LittleEndian.PutUint32(e.b[:4], v)
	e.raw(e.b[:4])
}

// U64 writes v.
func (e *Encoder) U64(v uint64) {
	binary.LittleEndian.PutUint64(e.b[:8], v)
	e.raw(e.b[:8])
}

// F32 writes v.
func (e *Encoder) F32(v float32) { e.U32(math.Float32bits(v)) }

// F64 writes v.
func (e *Encoder) F64(v float64) { e.U64(math.Float64bits(v)) }

// Bytes writes a length-prefixed byte slice.
func (e *Encoder) Bytes(p []byte) {
	e.U64(uint64(len(p)))
	e.raw(p)
}

// String writes a length-prefixed string.
func (e *Encoder) String(s string) {
	e.U64(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// RawBytes writes p without a length: a piece of a slice whose length (U64) was written before.
func (e *Encoder) RawBytes(p []byte) { e.raw(p) }

// F32s writes a length-prefixed float32 slice.
func (e *Encoder) F32s(v []float32) {
	e.U64(uint64(len(v)))
	e.RawF32s(v)
}

// RawF32s writes v without a length: a piece of a slice whose length (U64) was written before.
func (e *Encoder) RawF32s(v []float32) {
	buf := make([]byte, 0, 4096)
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		if len(buf) == cap(buf) {
			e.raw(buf)
			buf = buf[:0]
		}
	}
	e.raw(buf)
}

// U32s writes a length-prefixed uint32 slice.
func (e *Encoder) U32s(v []uint32) {
	e.U64(uint64(len(v)))
	e.RawU32s(v)
}

// RawU32s writes v without a length: a piece of a slice whose length (U64) was written before.
func (e *Encoder) RawU32s(v []uint32) {
	buf := make([]byte, 0, 4096)
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, x)
		if len(buf) == cap(buf) {
			e.raw(buf)
			buf = buf[:0]
		}
	}
	e.raw(buf)
}

// Binary writes v's self-delimiting binary form (an ann.Key), read back by
// [Decoder.Binary].
func (e *Encoder) Binary(v encoding.BinaryAppender) {
	b, err := v.AppendBinary(e.b[:0:0])
	if err != nil && e.err == nil {
		e.err = err
	}
	e.raw(b)
}

// Fail records an error found by the caller; Finish returns it.
func (e *Encoder) Fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Finish writes the checksum and flushes.
func (e *Encoder) Finish() error {
	if e.err != nil {
		return e.err
	}
	if err := e.w.Flush(); err != nil {
		return err
	}
	// The checksum itself is written past the tee so it is not hashed.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], e.crc.sum())
	_, err := e.out.Write(b[:])
	return err
}

// BinaryDecoder is implemented by values with a self-delimiting binary form
// (ann.Key): DecodeBinary decodes one from the front of b and returns how
// many bytes it used.
type BinaryDecoder interface {
	DecodeBinary(b []byte) (int, error)
}

// Decoder reads a container. Errors are sticky: after the first one every
// read returns zero values; check Err or End.
type Decoder struct {
	// In memory (Open): the whole file but its checksum, and the offset.
	b   []byte
	off int
	// Streaming (NewReader): the body, less the checksum held back.
	r   *bufio.Reader
	src *holdback

	err error
	// Version is the file's format version.
	Version uint32
}

// Decode opens r (Open) and reads the container's content with decode: how an index file is
// loaded.
func Decode[T any](r io.Reader, kind string, maxVersion uint32, decode func(*Decoder) (T, error)) (T, error) {
	d, err := Open(r, kind, maxVersion)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(d)
}

// Open reads r entirely, checks magic, kind, the checksum and that the
// version is at most maxVersion, and returns a decoder positioned after the
// header.
func Open(r io.Reader, kind string, maxVersion uint32) (*Decoder, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) < HeaderSize+trailerSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a header", ErrCorrupt, len(data))
	}
	sum, v, err := checkHeader([HeaderSize]byte(data), kind, maxVersion)
	if err != nil {
		return nil, err
	}
	body := data[:len(data)-trailerSize]
	want := binary.LittleEndian.Uint64(data[len(data)-trailerSize:])
	if got := sum.of(body); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (truncated or damaged file)", ErrCorrupt)
	}
	return &Decoder{b: body, off: HeaderSize, Version: v}, nil
}

// NewReader reads and checks the header from r and returns a decoder that
// reads the body from r as the caller asks for fields. The checksum is
// verified by End, which the caller must call after the last field.
func NewReader(r io.Reader, kind string, maxVersion uint32) (*Decoder, error) {
	// The checksum is known once the header is read: the header is hashed then.
	src := &holdback{r: r}
	var h [HeaderSize]byte
	if _, err := io.ReadFull(src, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: shorter than a header", ErrCorrupt)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	sum, v, err := checkHeader(h, kind, maxVersion)
	if err != nil {
		return nil, err
	}
	src.crc = sum.new()
	src.crc.Write(h[:])
	return &Decoder{r: bufio.NewReaderSize(src, 1<<16), src: src, Version: v}, nil
}

// checkHeader checks magic, kind and version and returns the checksum and version.
func checkHeader(h [HeaderSize]byte, kind string, maxVersion uint32) (Checksum, uint32, error) {
	sum := Checksum(h[7])
	if [7]byte(h[:7]) != magic || sum > CRC32C {
		return 0, 0, fmt.Errorf("%w: not a vecgate file", ErrCorrupt)
	}
	var k [4]byte
	copy(k[:], kind)
	if [4]byte(h[8:12]) != k {
		return 0, 0, fmt.Errorf("%w: file holds a %q, want %q", ErrCorrupt, h[8:12], kind)
	}
	v := binary.LittleEndian.Uint32(h[12:16])
	if v == 0 || v > maxVersion {
		return 0, 0, fmt.Errorf("%w: format version %d not supported (max %d)", ErrCorrupt, v, maxVersion)
	}
	return sum, v, nil
}

// holdback passes on all of r but its last trailerSize bytes, hashing what
// it passes; at EOF, held is the trailer.
type holdback struct {
	r      io.Reader
	crc    hasher
	mem    []byte // mem[lo:hi] is read from r, not yet passed on
	lo, hi int
	eof    bool
	err    error
	held   [trailerSize]byte
}

func (h *holdback) Read(p []byte) (int, error) {
	for h.hi-h.lo <= trailerSize && !h.eof {
		if h.mem == nil {
			h.mem = make([]byte, 1<<16)
		}
		if h.lo > 0 { // at most trailerSize bytes to move
			h.hi = copy(h.mem, h.mem[h.lo:h.hi])
			h.lo = 0
		}
		n, err := h.r.Read(h.mem[h.hi:])
		h.hi += n
		if err != nil {
			h.eof = true
			if !errors.Is(err, io.EOF) {
				h.err = err
			}
		}
	}
	avail := h.hi - h.lo - trailerSize
	if avail <= 0 {
		switch {
		case h.err != nil:
			return 0, h.err
		case avail < 0:
			return 0, io.ErrUnexpectedEOF
		}
		copy(h.held[:], h.mem[h.lo:h.hi])
		return 0, io.EOF
	}
	n := copy(p, h.mem[h.lo:h.lo+avail])
	if h.crc != nil {
		h.crc.Write(p[:n])
	}
	h.lo += n
	return n, nil
}

// Err returns the first decode error.
func (d *Decoder) Err() error { return d.err }

// Fail records a consistency error found by the caller.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

// streamFail records a read error of a streaming decoder.
func (d *Decoder) streamFail(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		d.err = fmt.Errorf("%w: truncated", ErrCorrupt)
	} else {
		d.err = fmt.Errorf("read: %w", err)
	}
}

// chunk bounds what a streaming decoder allocates ahead of the data it has
// read, so a corrupt length cannot allocate more than the file holds.
const chunk = 1 << 20

// take returns the next n bytes (a view of the file in memory; a new slice
// when streaming), or nil after an error.
func (d *Decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if d.r == nil {
		if n > uint64(len(d.b)-d.off) {
			d.err = fmt.Errorf("%w: truncated at offset %d", ErrCorrupt, d.off)
			return nil
		}
		p := d.b[d.off : d.off+int(n)]
		d.off += int(n)
		return p
	}
	var p []byte
	for uint64(len(p)) < n {
		step := int(min(n-uint64(len(p)), chunk))
		p = append(p, make([]byte, step)...)
		if _, err := io.ReadFull(d.r, p[len(p)-step:]); err != nil {
			d.streamFail(err)
			return nil
		}
	}
	if p == nil {
		p = []byte{}
	}
	return p
}

// fits reports whether n elements of width bytes can still be in a file in
// memory (a streaming decoder finds out by reading).
func (d *Decoder) fits(n uint64, width uint64) bool {
	return d.r != nil || n <= uint64(len(d.b)-d.off)/width
}

// U8 reads a byte.
func (d *Decoder) U8() uint8 {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// Bool reads a byte written by Encoder.Bool; anything but 0 or 1 is an error.
func (d *Decoder) Bool() bool {
	switch v := d.U8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Fail("bool %d", v)
		return false
	}
}

// U32 reads a uint32.
func (d *Decoder) U32() uint32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

// U64 reads a uint64.
func (d *Decoder) U64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// Uint reads a uint64 and checks it is at most max.
func (d *Decoder) Uint(max uint64) uint64 {
	v := d.U64()
	if d.err == nil && v > max {
		d.Fail("value %d out of range (max %d)", v, max)
		return 0
	}
	return v
}

// F32 reads a float32.
func (d *Decoder) F32() float32 { return math.Float32frombits(d.U32()) }

// F64 reads a float64.
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }

// Bytes reads a length-prefixed byte slice (a copy).
func (d *Decoder) Bytes() []byte {
	n := d.U64()
	if d.err == nil && !d.fits(n, 1) {
		d.err = fmt.Errorf("%w: %d bytes overrun the file", ErrCorrupt, n)
	}
	p := d.take(n)
	if p == nil {
		return nil
	}
	if d.r != nil {
		return p
	}
	return append([]byte(nil), p...)
}

// String reads a length-prefixed string.
func (d *Decoder) String() string {
	n := d.U64()
	if d.err == nil && !d.fits(n, 1) {
		d.err = fmt.Errorf("%w: string of %d bytes overruns the file", ErrCorrupt, n)
	}
	return string(d.take(n))
}

// F32s reads a length-prefixed float32 slice.
func (d *Decoder) F32s() []float32 {
	p := d.words("float array")
	if p == nil {
		return nil
	}
	v := make([]float32, len(p)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v
}

// U32s reads a length-prefixed uint32 slice.
func (d *Decoder) U32s() []uint32 {
	p := d.words("array")
	if p == nil {
		return nil
	}
	v := make([]uint32, len(p)/4)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(p[4*i:])
	}
	return v
}

// words reads the length of an array of 4-byte elements (what names it in the error when the
// length overruns the file) and returns the elements' bytes, or nil after an error.
func (d *Decoder) words(what string) []byte {
	n := d.U64()
	if d.err == nil && (!d.fits(n, 4) || n > math.MaxInt64/4) {
		d.err = fmt.Errorf("%w: %s of %d overruns the file", ErrCorrupt, what, n)
	}
	return d.take(n * 4)
}

// Binary decodes one value written by Encoder.Binary into v. Streaming, the
// value must fit in the read buffer (64 KiB).
func (d *Decoder) Binary(v BinaryDecoder) {
	if d.err != nil {
		return
	}
	var rest []byte
	if d.r == nil {
		rest = d.b[d.off:]
	} else {
		var err error
		rest, err = d.r.Peek(d.r.Size())
		if len(rest) == 0 && err != nil {
			d.streamFail(err)
			return
		}
	}
	n, err := v.DecodeBinary(rest)
	if err != nil {
		d.err = err
		return
	}
	if d.r == nil {
		d.off += n
	} else {
		d.r.Discard(n)
	}
}

// Reader returns the rest of a streaming decoder's body as a reader, for a
// nested container (the body's last field); then call End.
func (d *Decoder) Reader() io.Reader {
	if d.r == nil {
		return &sliceReader{d: d}
	}
	return d.r
}

// sliceReader reads the rest of an in-memory body.
type sliceReader struct{ d *Decoder }

func (s *sliceReader) Read(p []byte) (int, error) {
	if s.d.off == len(s.d.b) {
		return 0, io.EOF
	}
	n := copy(p, s.d.b[s.d.off:])
	s.d.off += n
	return n, nil
}

// Remaining returns the number of undecoded body bytes of a file in memory
// (-1 when streaming).
func (d *Decoder) Remaining() int {
	if d.r != nil {
		return -1
	}
	return len(d.b) - d.off
}

// End checks that the whole body was consumed and, streaming, that the
// checksum matches.
func (d *Decoder) End() error {
	if d.err != nil {
		return d.err
	}
	if d.r == nil {
		if d.off != len(d.b) {
			d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b)-d.off)
		}
		return d.err
	}
	n, err := io.Copy(io.Discard, d.r)
	switch {
	case err != nil:
		d.streamFail(err)
	case n != 0:
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, n)
	case binary.LittleEndian.Uint64(d.src.held[:]) != d.src.crc.sum():
		d.err = fmt.Errorf("%w: checksum mismatch (truncated or damaged file)", ErrCorrupt)
	}
	return d.err
}
