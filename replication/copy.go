package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// copyHeader starts every binary COPY stream.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00")

var errCopyFormat = errors.New("replication: malformed binary COPY data")

// copyReader is an io.Writer that parses a binary COPY stream as pgconn hands it over (in chunks
// of any size) and calls row for every tuple. fields alias an internal buffer valid only during
// the call; a NULL field is nil.
type copyReader struct {
	row      func(fields [][]byte) error
	buf      []byte
	header   bool
	done     bool
	fields   [][]byte
	maxField int
}

func (c *copyReader) Write(p []byte) (int, error) {
	if c.done {
		return 0, fmt.Errorf("%w: data after trailer", errCopyFormat)
	}
	var data []byte
	if len(c.buf) == 0 {
		data = p // fast path: nothing pending, parse in place
	} else {
		c.buf = append(c.buf, p...)
		data = c.buf
	}
	n, err := c.parse(data)
	if err != nil {
		return 0, err
	}
	rest := data[n:]
	if len(c.buf) == 0 {
		c.buf = append(c.buf, rest...)
	} else {
		c.buf = append(c.buf[:0], rest...)
	}
	return len(p), nil
}

// parse consumes complete pieces of data and returns how many bytes it used.
func (c *copyReader) parse(data []byte) (int, error) {
	used := 0
	if !c.header {
		if len(data) < len(copyHeader)+8 {
			return 0, nil
		}
		if !bytes.Equal(data[:len(copyHeader)], copyHeader) {
			return 0, fmt.Errorf("%w: bad signature", errCopyFormat)
		}
		ext := int(int32(binary.BigEndian.Uint32(data[len(copyHeader)+4:])))
		if ext < 0 {
			return 0, fmt.Errorf("%w: bad header extension", errCopyFormat)
		}
		if len(data) < len(copyHeader)+8+ext {
			return 0, nil
		}
		used = len(copyHeader) + 8 + ext
		c.header = true
	}
	for {
		d := data[used:]
		if len(d) < 2 {
			return used, nil
		}
		nf := int(int16(binary.BigEndian.Uint16(d)))
		if nf == -1 {
			c.done = true
			return used + 2, nil
		}
		if nf < 0 {
			return 0, fmt.Errorf("%w: field count %d", errCopyFormat, nf)
		}
		c.fields = c.fields[:0]
		off := 2
		complete := true
		for i := 0; i < nf; i++ {
			if len(d) < off+4 {
				complete = false
				break
			}
			l := int(int32(binary.BigEndian.Uint32(d[off:])))
			off += 4
			if l == -1 {
				c.fields = append(c.fields, nil)
				continue
			}
			if l < 0 {
				return 0, fmt.Errorf("%w: field length %d", errCopyFormat, l)
			}
			if len(d) < off+l {
				complete = false
				break
			}
			c.fields = append(c.fields, d[off:off+l:off+l])
			off += l
		}
		if !complete {
			return used, nil
		}
		if err := c.row(c.fields); err != nil {
			return 0, err
		}
		used += off
	}
}
