package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
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

// pipe decouples reading COPY data from the socket (pgconn's goroutine) and parsing/applying it
// (a second goroutine), so that on two cores neither waits for the other. Data is handed over in
// chunks of about 256 KiB; memory in flight is bounded by the channel capacity.
type pipe struct {
	w    io.Writer
	ch   chan []byte
	cur  []byte
	done chan struct{}
	err  atomic.Pointer[error]
}

const pipeChunk = 256 << 10

func newPipe(w io.Writer) *pipe {
	p := &pipe{w: w, ch: make(chan []byte, 8), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for b := range p.ch {
			if p.err.Load() != nil {
				continue
			}
			if _, err := p.w.Write(b); err != nil {
				p.err.Store(&err)
			}
		}
	}()
	return p
}

func (p *pipe) Write(b []byte) (int, error) {
	if e := p.err.Load(); e != nil {
		return 0, *e
	}
	if p.cur == nil {
		p.cur = make([]byte, 0, pipeChunk+len(b))
	}
	p.cur = append(p.cur, b...)
	if len(p.cur) >= pipeChunk {
		p.ch <- p.cur
		p.cur = nil
	}
	return len(b), nil
}

// Close flushes, waits for the parser and returns its first error.
func (p *pipe) Close() error {
	if len(p.cur) > 0 {
		p.ch <- p.cur
		p.cur = nil
	}
	close(p.ch)
	<-p.done
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}
