package replication

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/vecgate/vecgate/catalog"
)

func TestDecodeVector(t *testing.T) {
	bin := func(dim int16, fs ...float32) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(dim))
		b = append(b, 0, 0)
		for _, f := range fs {
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(f))
		}
		return b
	}
	v, err := DecodeBinary(catalog.TypeVector, bin(3, 1, 2.5, -3))
	if err != nil || v.Dim != 3 || v.String() != "[1,2.5,-3]" {
		t.Fatalf("vector binary: %v %v", v, err)
	}
	w, err := DecodeText(catalog.TypeVector, []byte("[1, 2.5,-3]"))
	if err != nil || !v.Equal(w) {
		t.Fatalf("vector text: %v %v", w, err)
	}
	// halfvec: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001.
	hb := []byte{0, 4, 0, 0, 0x3c, 0, 0xc0, 0, 0x7b, 0xff, 0, 1}
	h, err := DecodeBinary(catalog.TypeHalfvec, hb)
	if err != nil || h.Values[0] != 1 || h.Values[1] != -2 || h.Values[2] != 65504 || h.Values[3] != float32(math.Ldexp(1, -24)) {
		t.Fatalf("halfvec: %v %v", h, err)
	}
	sb := binary.BigEndian.AppendUint32(nil, 5)
	sb = binary.BigEndian.AppendUint32(sb, 2)
	sb = binary.BigEndian.AppendUint32(sb, 0)
	sb = binary.BigEndian.AppendUint32(sb, 0)
	sb = binary.BigEndian.AppendUint32(sb, 2)
	sb = binary.BigEndian.AppendUint32(sb, math.Float32bits(1.5))
	sb = binary.BigEndian.AppendUint32(sb, math.Float32bits(2))
	sp, err := DecodeBinary(catalog.TypeSparsevec, sb)
	if err != nil || sp.String() != "{1:1.5,3:2}/5" {
		t.Fatalf("sparsevec: %v %v", sp, err)
	}
	st, err := DecodeText(catalog.TypeSparsevec, []byte("{1:1.5,3:2}/5"))
	if err != nil || !st.Equal(sp) {
		t.Fatalf("sparsevec text: %v %v", st, err)
	}
	bt, err := DecodeBinary(catalog.TypeBit, []byte{0, 0, 0, 10, 0xa0, 0x40})
	if err != nil || bt.String() != "1010000001" {
		t.Fatalf("bit: %v %v", bt, err)
	}
	bx, err := DecodeText(catalog.TypeBit, []byte("1010000001"))
	if err != nil || !bx.Equal(bt) {
		t.Fatalf("bit text: %v %v", bx, err)
	}
	for _, bad := range [][]byte{nil, {0, 3, 0, 0}, bin(2, 1), bin(-1), bin(0)} {
		if _, err := DecodeBinary(catalog.TypeVector, bad); err == nil {
			t.Errorf("binary %x: want error", bad)
		}
	}
	for _, bad := range []string{"", "[]", "[1,,2]", "1,2", "[1,x]", "[1,2"} {
		if _, err := DecodeText(catalog.TypeVector, []byte(bad)); err == nil {
			t.Errorf("text %q: want error", bad)
		}
	}
}

func FuzzDecodeVector(f *testing.F) {
	f.Add(uint8(1), []byte{0, 1, 0, 0, 0x3f, 0x80, 0, 0})
	f.Add(uint8(2), []byte{0, 1, 0, 0, 0x3c, 0})
	f.Add(uint8(3), []byte{0, 0, 0, 3, 0xa0})
	f.Add(uint8(4), []byte{0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(1), []byte("[1,2,3]"))
	f.Add(uint8(4), []byte("{1:1,2:2}/3"))
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		k := catalog.VectorType(kind % 6)
		if v, err := DecodeBinary(k, b); err == nil {
			_ = v.String()
		}
		if v, err := DecodeText(k, b); err == nil {
			// Text round trip: what we print parses back to the same value.
			w, err := DecodeText(k, []byte(v.String()))
			if err != nil || !w.Equal(v) && !hasNaN(v.Values) {
				t.Fatalf("round trip %q → %q: %v", b, v.String(), err)
			}
		}
	})
}

func hasNaN(fs []float32) bool {
	for _, f := range fs {
		if f != f {
			return true
		}
	}
	return false
}

// catalogMessage is the Message vecgate's event trigger writes at a GRANT, as pgoutput sent it
// (Postgres 17, messages 'true').
var catalogMessage = []byte("M\x01\x00\x00\x00\x00\x29\x39\x3f\xe0vecgate.catalog\x00\x00\x00\x00\x05GRANT")

func TestDecodeLogicalMessage(t *testing.T) {
	m, err := decodeMessage(catalogMessage)
	msg, ok := m.(msgMessage)
	if err != nil || !ok || !msg.transactional || msg.prefix != catalogPrefix || string(msg.content) != "GRANT" || msg.lsn != 0x29393fe0 {
		t.Fatalf("decoded %#v, %v", m, err)
	}
	for i := range len(catalogMessage) - 1 {
		if _, err := decodeMessage(catalogMessage[:i]); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	tuple := []byte{0, 2, 'b', 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 'u'}
	f.Add(append([]byte{'I', 0, 0, 0, 1, 'N'}, tuple...))
	f.Add(append(append([]byte{'U', 0, 0, 0, 1, 'K'}, tuple...), append([]byte{'N'}, tuple...)...))
	f.Add(append([]byte{'D', 0, 0, 0, 1, 'K'}, tuple...))
	f.Add([]byte{'T', 0, 0, 0, 1, 0, 0, 0, 0, 1})
	f.Add([]byte("R\x00\x00\x00\x01public\x00items\x00d\x00\x01\x01id\x00\x00\x00\x00\x14\xff\xff\xff\xff"))
	f.Add([]byte("Y\x00\x00\x40\x00public\x00vector\x00"))
	f.Add(catalogMessage)
	f.Add(make([]byte, 26))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err == nil && m == nil {
			t.Fatal("nil message without error")
		}
	})
}

func FuzzCopyReader(f *testing.F) {
	row := append(append([]byte{}, copyHeader...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	f.Add(row, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		var whole, split [][]byte
		collect := func(dst *[][]byte) func([][]byte) error {
			return func(fields [][]byte) error {
				for _, x := range fields {
					*dst = append(*dst, bytes.Clone(x))
				}
				return nil
			}
		}
		c1 := &copyReader{row: collect(&whole)}
		_, err1 := c1.Write(b)
		c2 := &copyReader{row: collect(&split)}
		n := int(chunk%16) + 1
		var err2 error
		for i := 0; i < len(b) && err2 == nil; i += n {
			_, err2 = c2.Write(b[i:min(i+n, len(b))])
		}
		if (err1 == nil) == (err2 == nil) && err1 == nil && len(whole) != len(split) {
			t.Fatalf("chunking changed the result: %d vs %d fields", len(whole), len(split))
		}
	})
}

func TestMemorySnapshotRoundTrip(t *testing.T) {
	m := NewMemory()
	tg := Target{Schema: "public", Table: "t", Column: "v"}
	sp := Target{Schema: "public", Table: "t", Column: "s"}
	if err := m.Reset([]TargetInfo{{Target: tg, Kind: catalog.TypeVector, Dims: 2, Include: []string{"x"}}, {Target: sp, Kind: catalog.TypeSparsevec}}); err != nil {
		t.Fatal(err)
	}
	m.Upsert(tg, Row{Key: "a", Vector: Vector{Kind: catalog.TypeVector, Dim: 2, Values: []float32{1, 2}}, Include: []Datum{{Value: []byte("x")}}})
	m.Upsert(tg, Row{Key: "b", Vector: Vector{Kind: catalog.TypeVector, Dim: 2, Values: []float32{3, 4}}, Include: []Datum{{Null: true}}})
	m.Upsert(sp, Row{Key: "a", Vector: Vector{Kind: catalog.TypeSparsevec, Dim: 9, Values: []float32{}, Indices: []int32{}}})
	m.Commit(12345)
	var buf bytes.Buffer
	if err := m.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	n := NewMemory()
	if err := n.ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if n.AppliedLSN() != 12345 || n.Len(tg) != 2 || n.Len(sp) != 1 {
		t.Fatalf("read back: lsn %s, %d rows", n.AppliedLSN(), n.Len(tg))
	}
	for _, k := range []Key{"a", "b"} {
		v1, _ := m.Get(tg, k)
		v2, _ := n.Get(tg, k)
		if !v1.Equal(v2) {
			t.Errorf("key %s: %v vs %v", k, v1, v2)
		}
	}
	s1, _ := m.Get(sp, "a")
	s2, _ := n.Get(sp, "a")
	if !s1.Equal(s2) {
		t.Errorf("sparse: %#v vs %#v", s1, s2)
	}
	// Truncated or corrupted input is an error, never a panic.
	for i := 0; i < buf.Len(); i += 7 {
		if err := NewMemory().ReadSnapshot(bytes.NewReader(buf.Bytes()[:i])); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	// Rekey keeping the vector.
	m.Upsert(tg, Row{Key: "c", OldKey: "a", KeepVector: true})
	if v, ok := m.Get(tg, "c"); !ok || v.Values[0] != 1 {
		t.Errorf("move: %v %v", v, ok)
	}
	if _, ok := m.Get(tg, "a"); ok {
		t.Error("old key kept")
	}
	if err := m.Upsert(tg, Row{Key: "d", Vector: Vector{Kind: catalog.TypeVector, Dim: 3, Values: []float32{1, 2, 3}}}); err == nil {
		t.Error("wrong dimension accepted")
	}
}
