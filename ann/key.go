package ann

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// KeyKind says which Postgres primary-key type a Key carries.
type KeyKind uint8

// Key kinds. int2/int4/int8 all map to KindInt.
const (
	KindInt KeyKind = iota
	KindUUID
	KindText
)

// Key is a table's primary key: an integer (int2/int4/int8), a uuid or a
// text value. It is comparable and usable as a map key; the zero value is the
// integer 0. Indexes map Keys to dense internal uint32 ids.
type Key struct {
	kind KeyKind
	n    int64
	s    string // uuid bytes (16) or text
}

// IntKey returns the Key of an integer primary key.
func IntKey(n int64) Key { return Key{kind: KindInt, n: n} }

// UUIDKey returns the Key of a uuid primary key.
func UUIDKey(u [16]byte) Key { return Key{kind: KindUUID, s: string(u[:])} }

// TextKey returns the Key of a text/varchar primary key.
func TextKey(s string) Key { return Key{kind: KindText, s: s} }

// Kind returns the kind of primary key k carries.
func (k Key) Kind() KeyKind { return k.kind }

// Int returns the integer of a KindInt key (0 otherwise).
func (k Key) Int() int64 { return k.n }

// UUID returns the bytes of a KindUUID key (zero otherwise).
func (k Key) UUID() (u [16]byte) {
	if k.kind == KindUUID {
		copy(u[:], k.s)
	}
	return u
}

// Text returns the string of a KindText key ("" otherwise).
func (k Key) Text() string {
	if k.kind == KindText {
		return k.s
	}
	return ""
}

// String renders k as Postgres' text format would: 42, a uuid in canonical
// hyphenated form, or the text itself.
func (k Key) String() string {
	switch k.kind {
	case KindUUID:
		b := []byte(k.s)
		return hex.EncodeToString(b[0:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" +
			hex.EncodeToString(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" +
			hex.EncodeToString(b[10:16])
	case KindText:
		return k.s
	}
	return strconv.FormatInt(k.n, 10)
}

// AppendBinary appends a self-delimiting encoding of k to b (used by the
// save formats): kind byte, then 8 bytes little-endian for ints, 16 bytes for
// uuids, or a uvarint length and the bytes for text.
func (k Key) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(k.kind))
	switch k.kind {
	case KindInt:
		b = binary.LittleEndian.AppendUint64(b, uint64(k.n))
	case KindUUID:
		b = append(b, k.s...)
	case KindText:
		b = binary.AppendUvarint(b, uint64(len(k.s)))
		b = append(b, k.s...)
	default:
		return b, fmt.Errorf("ann: encode key: kind %d", k.kind)
	}
	return b, nil
}

// DecodeBinary decodes one key written by AppendBinary from the front of b
// into k and returns the number of bytes read (for internal/fileformat).
func (k *Key) DecodeBinary(b []byte) (int, error) {
	d, n, err := DecodeKey(b)
	if err == nil {
		*k = d
	}
	return n, err
}

// DecodeKey decodes one key written by AppendBinary from the front of b and
// returns it with the number of bytes read. A malformed encoding returns an
// error wrapping ErrCorrupt.
func DecodeKey(b []byte) (Key, int, error) {
	if len(b) < 1 {
		return Key{}, 0, fmt.Errorf("ann: decode key: %w: truncated", ErrCorrupt)
	}
	switch KeyKind(b[0]) {
	case KindInt:
		if len(b) < 9 {
			return Key{}, 0, fmt.Errorf("ann: decode key: %w: truncated int", ErrCorrupt)
		}
		return IntKey(int64(binary.LittleEndian.Uint64(b[1:9]))), 9, nil
	case KindUUID:
		if len(b) < 17 {
			return Key{}, 0, fmt.Errorf("ann: decode key: %w: truncated uuid", ErrCorrupt)
		}
		return Key{kind: KindUUID, s: string(b[1:17])}, 17, nil
	case KindText:
		n, w := binary.Uvarint(b[1:])
		if w <= 0 || n > uint64(len(b)-1-w) {
			return Key{}, 0, fmt.Errorf("ann: decode key: %w: bad text length", ErrCorrupt)
		}
		end := 1 + w + int(n)
		return TextKey(string(b[1+w : end])), end, nil
	}
	return Key{}, 0, fmt.Errorf("ann: decode key: %w: kind %d", ErrCorrupt, b[0])
}
