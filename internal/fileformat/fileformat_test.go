package fileformat_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/internal/fileformat"
)

// word is a self-delimiting value: a uvarint length, then the bytes.
type word string

func (w word) AppendBinary(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(w)))
	return append(b, w...), nil
}

func (w *word) DecodeBinary(b []byte) (int, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return 0, fmt.Errorf("%w: bad word", fileformat.ErrCorrupt)
	}
	*w = word(b[k : k+int(n)])
	return k + int(n), nil
}

type fields struct {
	u8    uint8
	ok    bool
	u32   uint32
	u64   uint64
	f32   float32
	f64   float64
	bytes []byte
	str   string
	f32s  []float32
	u32s  []uint32
	words []word
}

var sample = fields{
	u8: 7, ok: true, u32: 1 << 30, u64: 1<<60 + 3, f32: -1.5, f64: 1e300,
	bytes: []byte("payload"), str: "héllo", f32s: []float32{1, -2, 3.25},
	u32s: []uint32{9, 8, 7}, words: []word{"", "a", "longer word"},
}

func encode(e *fileformat.Encoder, f fields) {
	e.U8(f.u8)
	e.Bool(f.ok)
	e.U32(f.u32)
	e.U64(f.u64)
	e.F32(f.f32)
	e.F64(f.f64)
	e.Bytes(f.bytes)
	e.String(f.str)
	e.F32s(f.f32s)
	e.U32s(f.u32s)
	e.U64(uint64(len(f.words)))
	for _, w := range f.words {
		e.Binary(w)
	}
}

func decode(d *fileformat.Decoder) fields {
	var f fields
	f.u8 = d.U8()
	f.ok = d.Bool()
	f.u32 = d.U32()
	f.u64 = d.U64()
	f.f32 = d.F32()
	f.f64 = d.F64()
	f.bytes = d.Bytes()
	f.str = d.String()
	f.f32s = d.F32s()
	f.u32s = d.U32s()
	n := d.Uint(100)
	for range n {
		var w word
		d.Binary(&w)
		f.words = append(f.words, w)
	}
	return f
}

func same(a, b fields) bool {
	return a.u8 == b.u8 && a.ok == b.ok && a.u32 == b.u32 && a.u64 == b.u64 && a.f32 == b.f32 &&
		a.f64 == b.f64 && bytes.Equal(a.bytes, b.bytes) && a.str == b.str &&
		slices.Equal(a.f32s, b.f32s) && slices.Equal(a.u32s, b.u32s) && slices.Equal(a.words, b.words)
}

func file(t *testing.T, sum fileformat.Checksum) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := fileformat.NewEncoderWith(&buf, "TEST", 2, sum)
	encode(e, sample)
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readers opens data both ways: whole (checksum first) and streaming (checksum at End).
var readers = map[string]func(data []byte, kind string, max uint32) (*fileformat.Decoder, error){
	"open": func(data []byte, kind string, max uint32) (*fileformat.Decoder, error) {
		return fileformat.Open(bytes.NewReader(data), kind, max)
	},
	"stream": func(data []byte, kind string, max uint32) (*fileformat.Decoder, error) {
		// Reads of a few bytes at a time: TestNested.
		return fileformat.NewReader(bytes.NewReader(data), kind, max)
	},
}

var checksums = map[string]fileformat.Checksum{"crc64": fileformat.CRC64, "crc32c": fileformat.CRC32C}

func TestRoundTrip(t *testing.T) {
	for sumName, sum := range checksums {
		data := file(t, sum)
		if data[7] != byte(sum) {
			t.Fatalf("%s: checksum byte %d", sumName, data[7])
		}
		roundTrip(t, data)
	}
	// NewEncoder is CRC-64, the checksum of index files written since format 1.
	var buf bytes.Buffer
	e := fileformat.NewEncoder(&buf, "TEST", 2)
	encode(e, sample)
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), file(t, fileformat.CRC64)) {
		t.Error("NewEncoder differs from NewEncoderWith(CRC64)")
	}
}

func roundTrip(t *testing.T, data []byte) {
	t.Helper()
	for name, open := range readers {
		d, err := open(data, "TEST", 2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Version != 2 {
			t.Errorf("%s: version %d", name, d.Version)
		}
		got := decode(d)
		if err := d.End(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !same(got, sample) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, sample)
		}
	}
}

// TestDamageDetected: every truncation and every flipped byte fails, in both modes, with
// ErrCorrupt and without a panic.
func TestDamageDetected(t *testing.T) {
	for _, sum := range checksums {
		damageDetected(t, file(t, sum))
	}
}

func damageDetected(t *testing.T, data []byte) {
	for name, open := range readers {
		try := func(what string, b []byte) {
			d, err := open(b, "TEST", 2)
			if err == nil {
				decode(d)
				err = d.End()
			}
			if !errors.Is(err, fileformat.ErrCorrupt) {
				t.Fatalf("%s, %s: error %v, want ErrCorrupt", name, what, err)
			}
		}
		for n := range len(data) {
			try(fmt.Sprintf("truncated to %d", n), data[:n])
		}
		for i := range data {
			b := slices.Clone(data)
			b[i] ^= 0x40
			try(fmt.Sprintf("byte %d flipped", i), b)
		}
		try("trailing byte", append(slices.Clone(data[:len(data)-8]), 0, 0, 0, 0, 0, 0, 0, 0, 0))
	}
}

func TestHeaderChecks(t *testing.T) {
	data := file(t, fileformat.CRC32C)
	unknown := slices.Clone(data)
	unknown[7] = 2
	for name, open := range readers {
		if _, err := open(data, "HNSW", 2); !errors.Is(err, fileformat.ErrCorrupt) {
			t.Errorf("%s: wrong kind accepted: %v", name, err)
		}
		if _, err := open(data, "TEST", 1); !errors.Is(err, fileformat.ErrCorrupt) {
			t.Errorf("%s: newer version accepted: %v", name, err)
		}
		if _, err := open(unknown, "TEST", 2); !errors.Is(err, fileformat.ErrCorrupt) {
			t.Errorf("%s: unknown checksum accepted: %v", name, err)
		}
		if _, err := open([]byte("VECGATE-REPL\nsomething else entirely"), "TEST", 2); !errors.Is(err, fileformat.ErrCorrupt) {
			t.Errorf("%s: foreign magic accepted: %v", name, err)
		}
	}
}

// TestHugeLengthStreaming: a streaming decoder given a length far beyond the data fails at the
// end of the data instead of allocating the length.
func TestHugeLengthStreaming(t *testing.T) {
	var buf bytes.Buffer
	e := fileformat.NewEncoder(&buf, "TEST", 1)
	e.U64(1 << 50) // a byte slice's length, then nothing
	e.U64(5)
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	d, err := fileformat.NewReader(bytes.NewReader(buf.Bytes()), "TEST", 1)
	if err != nil {
		t.Fatal(err)
	}
	if b := d.Bytes(); b != nil || !errors.Is(d.Err(), fileformat.ErrCorrupt) {
		t.Fatalf("got %d bytes, error %v", len(b), d.Err())
	}
}

// TestNested: a container as the last field of another's body, read streaming through the outer
// one in small reads (as replication reads a snapshot's payload); damage to the inner body is
// caught by both checksums.
func TestNested(t *testing.T) {
	var buf bytes.Buffer
	outer := fileformat.NewEncoderWith(&buf, "SNAP", 1, fileformat.CRC32C)
	outer.String("slot")
	inner := fileformat.NewEncoder(outer, "TEST", 2)
	encode(inner, sample)
	if err := inner.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := outer.Finish(); err != nil {
		t.Fatal(err)
	}
	read := func(data []byte) (fields, error) {
		od, err := fileformat.NewReader(smallReads{bytes.NewReader(data)}, "SNAP", 1)
		if err != nil {
			return fields{}, err
		}
		if s := od.String(); s != "slot" && od.Err() == nil {
			return fields{}, fmt.Errorf("outer field %q", s)
		}
		id, err := fileformat.NewReader(od.Reader(), "TEST", 2)
		if err != nil {
			return fields{}, err
		}
		f := decode(id)
		return f, errors.Join(id.End(), od.End())
	}
	got, err := read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !same(got, sample) {
		t.Fatalf("decoded %+v, want %+v", got, sample)
	}
	// The same bytes read whole: the inner container is the rest of the outer body.
	od, err := fileformat.Open(bytes.NewReader(buf.Bytes()), "SNAP", 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = od.String()
	id, err := fileformat.NewReader(od.Reader(), "TEST", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(id); !same(got, sample) || id.End() != nil || od.End() != nil {
		t.Fatalf("in memory: %+v", got)
	}
	for i := fileformat.HeaderSize + 12; i < buf.Len(); i++ {
		b := slices.Clone(buf.Bytes())
		b[i] ^= 1
		if _, err := read(b); !errors.Is(err, fileformat.ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

// smallReads returns at most 3 bytes per Read.
type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 3)]) }

func FuzzStream(f *testing.F) {
	for _, sum := range checksums {
		var buf bytes.Buffer
		e := fileformat.NewEncoderWith(&buf, "TEST", 2, sum)
		encode(e, sample)
		_ = e.Finish()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, open := range readers {
			d, err := open(data, "TEST", 2)
			if err != nil {
				continue
			}
			decode(d)
			_ = d.End()
		}
	})
}
