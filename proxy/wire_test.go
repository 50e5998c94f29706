package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgx/v5/pgproto3"
)

// stream encodes messages back to back.
func stream(t testing.TB, msgs ...interface{ Encode([]byte) ([]byte, error) }) []byte {
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func sample(t testing.TB) []byte {
	return stream(t,
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25, DataTypeSize: -1}}},
		&pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 200000)}},
		&pgproto3.CommandComplete{CommandTag: []byte("INSERT 0 1")},
		&pgproto3.CopyInResponse{},
		&pgproto3.CommandComplete{CommandTag: []byte("COPY 3")},
		&pgproto3.ReadyForQuery{TxStatus: 'T'},
		&pgproto3.EmptyQueryResponse{},
	)
}

type seen struct {
	typ  byte
	body string
}

// framed reads all messages of src with reader.next.
func framed(src []byte, maxBody int) ([]seen, error) {
	rd := newReader(iotest.HalfReader(bytes.NewReader(src)), maxBody)
	var out []seen
	for {
		typ, raw, body, err := rd.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		if len(raw) != 5+len(body) {
			return out, errors.New("raw and body disagree")
		}
		out = append(out, seen{typ, string(body[:min(len(body), 64)])})
	}
}

func TestReaderFrames(t *testing.T) {
	src := sample(t)
	got, err := framed(src, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 9 || got[1] != (seen{'Z', "I"}) || got[4] != (seen{'C', "INSERT 0 1\x00"}) || got[3].typ != 'D' {
		t.Fatalf("framed %q", got)
	}
}

func TestReaderLimits(t *testing.T) {
	src := sample(t)
	if _, err := framed(src, 1000); !errors.Is(err, errProtocol) {
		t.Fatalf("200 KB message under a 1000-byte limit: %v", err)
	}
	if _, err := framed([]byte{'Q', 0, 0, 0, 3}, 1000); !errors.Is(err, errProtocol) {
		t.Fatalf("length 3: %v", err)
	}
	if _, err := framed(src[:len(src)-3], 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut stream: %v", err)
	}
}

func TestReaderStream(t *testing.T) {
	big := stream(t, &pgproto3.CopyData{Data: bytes.Repeat([]byte("0123456789"), 100000)})
	src := append(big, stream(t, &pgproto3.CopyDone{})...)
	rd := newReader(iotest.OneByteReader(bytes.NewReader(src)), 2<<20)
	typ, n, err := rd.header()
	if err != nil || typ != 'd' || n != 1000000 {
		t.Fatalf("header %q %d %v", typ, n, err)
	}
	var out bytes.Buffer
	if err := rd.stream(&out, n); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), big) {
		t.Fatal("streamed bytes differ")
	}
	if len(rd.buf) > 2*readerChunk {
		t.Fatalf("stream grew the buffer to %d", len(rd.buf))
	}
	typ, _, _, err = rd.next()
	if err != nil || typ != 'c' {
		t.Fatalf("after stream: %q %v", typ, err)
	}
}

func TestDecodeStartupParams(t *testing.T) {
	pkt := binary.BigEndian.AppendUint32(nil, codeProto30)
	pkt = append(pkt, "user\x00alice\x00options\x00-c x=1\x00\x00"...)
	p, err := decodeStartupParams(pkt)
	if err != nil || p["user"] != "alice" || p["database"] != "alice" || p["options"] != "-c x=1" {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"user\x00alice", "user\x00alice\x00\x00x", "database\x00d\x00\x00", "user\x00"} {
		pkt := append(binary.BigEndian.AppendUint32(nil, codeProto30), bad...)
		if _, err := decodeStartupParams(pkt); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCommandTagWrites(t *testing.T) {
	for tag, want := range map[string]bool{
		"INSERT 0 1\x00": true, "UPDATE 3": true, "DELETE 0": true, "MERGE 1": true, "CREATE TABLE": true,
		"TRUNCATE TABLE": true, "SELECT 5\x00": false, "BEGIN": false, "SET\x00": false, "COPY 5": false,
		"FETCH 10": false, "SHOW": false, "CALL": true, "DO": true,
	} {
		if got := writes([]byte(tag)); got != want {
			t.Errorf("writes(%q) = %v, want %v", tag, got, want)
		}
	}
}

// FuzzWire: arbitrary bytes never panic the framing reader or the startup reader, and every
// message the reader returns lies within the input.
func FuzzWire(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte{'Q', 0, 0, 0, 3})
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})
	f.Add(append(binary.BigEndian.AppendUint32([]byte{0, 0, 0, 20}, codeProto30), "user\x00u\x00\x00\x00\x00\x00"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := newReader(bytes.NewReader(data), 1<<16)
		if pkt, err := rd.startup(); err == nil && len(pkt) >= 4 && binary.BigEndian.Uint32(pkt)>>16 == 3 {
			_, _ = decodeStartupParams(pkt)
		}
		msgs, _ := framed(data, 1<<16)
		total := 0
		for _, m := range msgs {
			total += 5
			total += len(m.body) // a prefix of the body; the sum stays within the input
		}
		if total > len(data) {
			t.Fatalf("framed %d bytes out of %d", total, len(data))
		}
	})
}
