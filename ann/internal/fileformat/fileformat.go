// Package fileformat is the container of vecgate's saved indexes: a header
// (magic "VECGATE\x00", a four-byte kind such as "HNSW", a uint32 version),
// a body of little-endian fields, and a trailing CRC-64 (ECMA) of everything
// before it. Readers verify the checksum before decoding and every decode is
// bounds-checked, so a truncated or corrupt file yields ann.ErrCorrupt, never
// a panic or a huge allocation.
package fileformat

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"math"

	"github.com/vecgate/vecgate/ann"
)

var magic = [8]byte{'V', 'E', 'C', 'G', 'A', 'T', 'E', 0}

var table = crc64.MakeTable(crc64.ECMA)

// HeaderSize is the size of magic + kind + version.
const HeaderSize = 16

// Encoder writes a file. Errors are sticky: check Finish.
type Encoder struct {
	out io.Writer
	w   *bufio.Writer
	crc hash.Hash64
	err error
	b   [8]byte
}

// NewEncoder writes the header for kind (4 bytes) and version.
func NewEncoder(w io.Writer, kind string, version uint32) *Encoder {
	crc := crc64.New(table)
	e := &Encoder{out: w, w: bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16), crc: crc}
	e.raw(magic[:])
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

// Key writes a primary key.
func (e *Encoder) Key(k ann.Key) {
	b, err := k.AppendBinary(e.b[:0:0])
	if err != nil && e.err == nil {
		e.err = err
	}
	e.raw(b)
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
	binary.LittleEndian.PutUint64(b[:], e.crc.Sum64())
	_, err := e.out.Write(b[:])
	return err
}

// Decoder reads a file fully verified by Open. Errors are sticky: after the
// first one every read returns zero values; check Err.
type Decoder struct {
	b   []byte
	off int
	err error
	// Version is the file's format version.
	Version uint32
}

// Open reads r entirely, checks magic, kind, the checksum and that the
// version is at most maxVersion, and returns a decoder positioned after the
// header.
func Open(r io.Reader, kind string, maxVersion uint32) (*Decoder, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) < HeaderSize+8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a header", ann.ErrCorrupt, len(data))
	}
	if [8]byte(data[:8]) != magic {
		return nil, fmt.Errorf("%w: not a vecgate index file", ann.ErrCorrupt)
	}
	var k [4]byte
	copy(k[:], kind)
	if [4]byte(data[8:12]) != k {
		return nil, fmt.Errorf("%w: file holds a %q index, want %q", ann.ErrCorrupt, data[8:12], kind)
	}
	body := data[:len(data)-8]
	want := binary.LittleEndian.Uint64(data[len(data)-8:])
	if got := crc64.Checksum(body, table); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (truncated or damaged file)", ann.ErrCorrupt)
	}
	v := binary.LittleEndian.Uint32(data[12:16])
	if v == 0 || v > maxVersion {
		return nil, fmt.Errorf("%w: format version %d not supported (max %d)", ann.ErrCorrupt, v, maxVersion)
	}
	return &Decoder{b: body, off: HeaderSize, Version: v}, nil
}

// Err returns the first decode error.
func (d *Decoder) Err() error { return d.err }

// Fail records a consistency error found by the caller.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ann.ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *Decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = fmt.Errorf("%w: truncated at offset %d", ann.ErrCorrupt, d.off)
		return nil
	}
	p := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return p
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

// F32 reads a float32.
func (d *Decoder) F32() float32 { return math.Float32frombits(d.U32()) }

// F64 reads a float64.
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }

// Bytes reads a length-prefixed byte slice (a copy).
func (d *Decoder) Bytes() []byte {
	n := d.U64()
	p := d.take(n)
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

// F32s reads a length-prefixed float32 slice.
func (d *Decoder) F32s() []float32 {
	n := d.U64()
	if d.err == nil && n > uint64(len(d.b)-d.off)/4 {
		d.err = fmt.Errorf("%w: float array of %d overruns the file", ann.ErrCorrupt, n)
	}
	p := d.take(n * 4)
	if p == nil {
		return nil
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v
}

// U32s reads a length-prefixed uint32 slice.
func (d *Decoder) U32s() []uint32 {
	n := d.U64()
	if d.err == nil && n > uint64(len(d.b)-d.off)/4 {
		d.err = fmt.Errorf("%w: array of %d overruns the file", ann.ErrCorrupt, n)
	}
	p := d.take(n * 4)
	if p == nil {
		return nil
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(p[4*i:])
	}
	return v
}

// Key reads a primary key.
func (d *Decoder) Key() ann.Key {
	if d.err != nil {
		return ann.Key{}
	}
	k, n, err := ann.DecodeKey(d.b[d.off:])
	if err != nil {
		d.err = err
		return ann.Key{}
	}
	d.off += n
	return k
}

// Remaining returns the number of undecoded body bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// End checks that the whole body was consumed.
func (d *Decoder) End() error {
	if d.err == nil && d.off != len(d.b) {
		d.err = fmt.Errorf("%w: %d trailing bytes", ann.ErrCorrupt, len(d.b)-d.off)
	}
	return d.err
}
