package proxy

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Protocol codes of the untyped startup-phase packets (protocol.sgml).
const (
	codeProto30    = 196608 // 3.0
	codeProto32    = 196610 // 3.2
	codeSSLRequest = 80877103
	codeGSSRequest = 80877104
	codeCancel     = 80877102

	maxStartupLen = 10000 // Postgres' MAX_STARTUP_PACKET_LENGTH
)

// errProtocol marks a client that broke the protocol: the session answers 08P01 and closes.
var errProtocol = errors.New("protocol violation")

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// reader frames Postgres messages read from one side of a session. It buffers what it reads so that
// many small messages cost one system call, and it never asks for more memory than the largest
// message allowed (maxBody). It is used by one goroutine at a time.
type reader struct {
	src     io.Reader
	buf     []byte // buf[r:w] holds unread bytes
	r, w    int
	maxBody int
}

const readerChunk = 64 << 10

func newReader(src io.Reader, maxBody int) *reader {
	return &reader{src: src, buf: make([]byte, readerChunk), maxBody: maxBody}
}

// buffered reports how many bytes are waiting in the buffer.
func (rd *reader) buffered() int { return rd.w - rd.r }

// fill makes at least n bytes available in buf[r:w], reading from src as needed.
func (rd *reader) fill(n int) error {
	if rd.w-rd.r >= n {
		return nil
	}
	if rd.r == rd.w && len(rd.buf) > 16*readerChunk && n <= readerChunk {
		rd.buf, rd.r, rd.w = make([]byte, readerChunk), 0, 0 // drop the room a large message needed
	}
	if rd.r > 0 && (len(rd.buf)-rd.r < n || rd.r == rd.w) {
		copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.w -= rd.r
		rd.r = 0
	}
	if len(rd.buf) < n {
		nb := make([]byte, max(n, 2*len(rd.buf)))
		copy(nb, rd.buf[rd.r:rd.w])
		rd.w -= rd.r
		rd.r = 0
		rd.buf = nb
	}
	for rd.w-rd.r < n {
		m, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += m
		if err != nil {
			if rd.w-rd.r >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && rd.w > rd.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// startup reads one untyped startup-phase packet (length, then code and payload) and returns the
// packet without its length word.
func (rd *reader) startup() ([]byte, error) {
	if err := rd.fill(4); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(rd.buf[rd.r:])))
	if n < 8 || n > maxStartupLen {
		return nil, protocolErrorf("invalid length of startup packet: %d", n)
	}
	if err := rd.fill(n); err != nil {
		return nil, err
	}
	pkt := rd.buf[rd.r+4 : rd.r+n]
	rd.r += n
	return pkt, nil
}

// header reads the 5-byte header of the next typed message and returns its type and body length.
// The header stays in the buffer (peeked); consume or next advances past it.
func (rd *reader) header() (typ byte, bodyLen int, err error) {
	if err := rd.fill(5); err != nil {
		return 0, 0, err
	}
	typ = rd.buf[rd.r]
	l := int(int32(binary.BigEndian.Uint32(rd.buf[rd.r+1:])))
	if l < 4 {
		return 0, 0, protocolErrorf("invalid message length %d for message type %q", l, typ)
	}
	if l-4 > rd.maxBody {
		return 0, 0, protocolErrorf("message type %q of %d bytes exceeds the maximum message size of %d bytes", typ, l-4, rd.maxBody)
	}
	return typ, l - 4, nil
}

// next returns the next whole message: its raw bytes (header included) and body. Both alias the
// reader's buffer and are valid until the next call.
func (rd *reader) next() (typ byte, raw, body []byte, err error) {
	typ, n, err := rd.header()
	if err != nil {
		return 0, nil, nil, err
	}
	if err := rd.fill(5 + n); err != nil {
		return 0, nil, nil, err
	}
	raw = rd.buf[rd.r : rd.r+5+n]
	rd.r += 5 + n
	return typ, raw, raw[5:], nil
}

// peek returns up to max whole messages already buffered after the read position, without
// consuming them or reading more. They alias the buffer and stay valid until the next fill.
func (rd *reader) peek(max int) [][]byte {
	var out [][]byte
	pos := rd.r
	for len(out) < max && rd.w-pos >= 5 {
		l := int(int32(binary.BigEndian.Uint32(rd.buf[pos+1:])))
		if l < 4 || l-4 > rd.maxBody || rd.w-pos < 1+l {
			break
		}
		out = append(out, rd.buf[pos:pos+1+l])
		pos += 1 + l
	}
	return out
}

// skip consumes n whole buffered messages (as returned by peek).
func (rd *reader) skip(n int) {
	for range n {
		l := int(int32(binary.BigEndian.Uint32(rd.buf[rd.r+1:])))
		rd.r += 1 + l
	}
}

// stream copies the next message, header included, to w without holding the whole body in
// memory. It is for messages (CopyData) that may be large.
func (rd *reader) stream(w io.Writer, bodyLen int) error {
	remain := 5 + bodyLen
	for remain > 0 {
		if rd.buffered() == 0 {
			if err := rd.fill(1); err != nil {
				return err
			}
		}
		chunk := min(remain, rd.buffered())
		if _, err := w.Write(rd.buf[rd.r : rd.r+chunk]); err != nil {
			return err
		}
		rd.r += chunk
		remain -= chunk
	}
	return nil
}

// errorResponse encodes a FATAL-or-ERROR ErrorResponse with vecgate's prefix.
func errorResponse(severity, code, msg string) []byte {
	return encodeError(&pgconn.PgError{Severity: severity, Code: code, Message: msg})
}

// encodeError encodes e as an ErrorResponse with every field it sets; SeverityUnlocalized is
// Severity when unset, and Severity ERROR.
func encodeError(e *pgconn.PgError) []byte {
	sev := cmp.Or(e.Severity, "ERROR")
	r := &pgproto3.ErrorResponse{Severity: sev, SeverityUnlocalized: cmp.Or(e.SeverityUnlocalized, sev),
		Code: e.Code, Message: e.Message, Detail: e.Detail, Hint: e.Hint, Position: e.Position,
		InternalPosition: e.InternalPosition, InternalQuery: e.InternalQuery, Where: e.Where,
		SchemaName: e.SchemaName, TableName: e.TableName, ColumnName: e.ColumnName,
		DataTypeName: e.DataTypeName, ConstraintName: e.ConstraintName, File: e.File, Line: e.Line,
		Routine: e.Routine}
	b, err := r.Encode(nil)
	if err != nil { // only on absurd sizes; fall back to a minimal message
		b, _ = (&pgproto3.ErrorResponse{Severity: sev, Code: e.Code, Message: "vecgate error"}).Encode(nil)
	}
	return b
}
