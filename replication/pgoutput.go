package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// This file decodes pgoutput messages (protocol versions 1 and 2 without streamed transactions).
// pglogrepl.Parse indexes its input without bounds checks, so vecgate decodes itself: every read
// below is checked and malformed input yields an error, never a panic (FuzzDecodeMessage).

// ErrMalformed is wrapped by every decoding error for bytes that do not form a valid message.
var ErrMalformed = errors.New("malformed pgoutput message")

// Tuple column kinds as sent by pgoutput.
const (
	colNull      = 'n'
	colUnchanged = 'u' // TOASTed value not sent: keep the old one
	colText      = 't'
	colBinary    = 'b'
)

type tupleCol struct {
	kind byte
	data []byte // aliases the message buffer
}

type msgBegin struct {
	finalLSN   LSN
	commitTime time.Time
	xid        uint32
}

type msgCommit struct {
	commitLSN, endLSN LSN
	commitTime        time.Time
}

type relColumn struct {
	key     bool
	name    string
	typeOID uint32
	typMod  int32
}

type msgRelation struct {
	relid           uint32
	namespace, name string
	replident       byte
	columns         []relColumn
}

type msgType struct {
	oid             uint32
	namespace, name string
}

type msgInsert struct {
	relid uint32
	new   []tupleCol
}

type msgUpdate struct {
	relid   uint32
	oldKind byte // 0, 'K' (key changed) or 'O' (replica identity full)
	old     []tupleCol
	new     []tupleCol
}

type msgDelete struct {
	relid   uint32
	oldKind byte
	old     []tupleCol
}

type msgTruncate struct {
	relids []uint32
}

// msgIgnored stands for Origin, which vecgate does not act on.
type msgIgnored struct{ typ byte }

// msgMessage is a logical decoding message (pg_logical_emit_message), sent when the plugin's
// messages option is on.
type msgMessage struct {
	transactional bool
	lsn           LSN
	prefix        string
	content       []byte
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: short or bad %s", ErrMalformed, what)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail(what)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(what string) byte {
	p := r.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16(what string) uint16 {
	p := r.take(2, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (r *reader) u32(what string) uint32 {
	p := r.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *reader) u64(what string) uint64 {
	p := r.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *reader) str(what string) string {
	if r.err != nil {
		return ""
	}
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.fail(what)
		return ""
	}
	s := string(r.b[:i])
	r.b = r.b[i+1:]
	return s
}

func (r *reader) time(what string) time.Time {
	us := int64(r.u64(what))
	return pgEpoch.Add(time.Duration(us) * time.Microsecond)
}

var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (r *reader) tuple(what string) []tupleCol {
	n := int(r.u16(what + " column count"))
	if r.err != nil {
		return nil
	}
	if n > len(r.b) { // every column takes at least one byte
		r.fail(what + " column count")
		return nil
	}
	cols := make([]tupleCol, n)
	for i := range cols {
		k := r.u8(what + " column kind")
		cols[i].kind = k
		switch k {
		case colNull, colUnchanged:
		case colText, colBinary:
			l := r.u32(what + " column length")
			if l > uint32(len(r.b)) {
				r.fail(what + " column data")
				return nil
			}
			cols[i].data = r.take(int(l), what+" column data")
		default:
			r.fail(what + " column kind")
		}
		if r.err != nil {
			return nil
		}
	}
	return cols
}

// decodeMessage decodes one pgoutput message. The returned value aliases data.
func decodeMessage(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	r := &reader{b: data[1:]}
	var m any
	switch data[0] {
	case 'B':
		m = msgBegin{finalLSN: LSN(r.u64("begin lsn")), commitTime: r.time("begin time"), xid: r.u32("begin xid")}
	case 'C':
		r.u8("commit flags")
		m = msgCommit{commitLSN: LSN(r.u64("commit lsn")), endLSN: LSN(r.u64("commit end lsn")), commitTime: r.time("commit time")}
	case 'O':
		m = msgIgnored{typ: data[0]}
		r.b = nil
	case 'M':
		msg := msgMessage{transactional: r.u8("message flags")&1 != 0, lsn: LSN(r.u64("message lsn")), prefix: r.str("message prefix")}
		n := r.u32("message length")
		if r.err == nil && n > uint32(len(r.b)) {
			r.fail("message content")
		}
		msg.content = r.take(int(n), "message content")
		m = msg
	case 'R':
		rel := msgRelation{relid: r.u32("relation id"), namespace: r.str("relation namespace"), name: r.str("relation name"), replident: r.u8("replica identity")}
		n := int(r.u16("relation column count"))
		if r.err == nil && n > len(r.b) {
			r.fail("relation column count")
		}
		for i := 0; i < n && r.err == nil; i++ {
			c := relColumn{key: r.u8("column flags")&1 != 0, name: r.str("column name"), typeOID: r.u32("column type"), typMod: int32(r.u32("column typmod"))}
			rel.columns = append(rel.columns, c)
		}
		m = rel
	case 'Y':
		m = msgType{oid: r.u32("type oid"), namespace: r.str("type namespace"), name: r.str("type name")}
	case 'I':
		ins := msgInsert{relid: r.u32("insert relation")}
		if k := r.u8("insert tuple kind"); r.err == nil && k != 'N' {
			r.fail("insert tuple kind")
		}
		ins.new = r.tuple("insert")
		m = ins
	case 'U':
		up := msgUpdate{relid: r.u32("update relation")}
		k := r.u8("update tuple kind")
		if k == 'K' || k == 'O' {
			up.oldKind = k
			up.old = r.tuple("update old")
			k = r.u8("update tuple kind")
		}
		if r.err == nil && k != 'N' {
			r.fail("update tuple kind")
		}
		up.new = r.tuple("update new")
		m = up
	case 'D':
		del := msgDelete{relid: r.u32("delete relation")}
		del.oldKind = r.u8("delete tuple kind")
		if r.err == nil && del.oldKind != 'K' && del.oldKind != 'O' {
			r.fail("delete tuple kind")
		}
		del.old = r.tuple("delete")
		m = del
	case 'T':
		n := r.u32("truncate count")
		r.u8("truncate options")
		if r.err == nil && uint64(n)*4 > uint64(len(r.b)) {
			r.fail("truncate relations")
		}
		tr := msgTruncate{}
		for i := uint32(0); i < n && r.err == nil; i++ {
			tr.relids = append(tr.relids, r.u32("truncate relation"))
		}
		m = tr
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrMalformed, data[0])
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}
