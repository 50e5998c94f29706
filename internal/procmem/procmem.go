// Package procmem reads the process's resident memory as the kernel counts it: anonymous pages
// (the Go heap, off-heap arenas, stacks) apart from file-backed ones (mapped files, the binary),
// from /proc/self/status. Memory figures users trust are these, not a sum of the heap objects an
// index holds (GOTCHAS.md: Go returns freed heap slowly).
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// RSS is the process's resident set in bytes.
type RSS struct {
	Anon  int64 `json:"anon_bytes"`  // RssAnon: anonymous pages (heap, off-heap arenas, stacks)
	File  int64 `json:"file_bytes"`  // RssFile: pages of mapped files (the binary, mmap'd data files)
	Shmem int64 `json:"shmem_bytes"` // RssShmem: shared memory
}

// Total is every resident byte (VmRSS).
func (r RSS) Total() int64 { return r.Anon + r.File + r.Shmem }

// Sub is r's growth over base (negative parts when it shrank).
func (r RSS) Sub(base RSS) RSS {
	return RSS{Anon: r.Anon - base.Anon, File: r.File - base.File, Shmem: r.Shmem - base.Shmem}
}

// ErrUnsupported: the system has no /proc/self/status with the Rss* lines (not Linux).
var ErrUnsupported = errors.New("procmem: resident memory not available on this system")

// Read returns the process's resident memory now.
func Read() (RSS, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return RSS{}, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return parse(b)
}

// parse reads the RssAnon, RssFile and RssShmem lines ("RssAnon:   123456 kB").
func parse(status []byte) (RSS, error) {
	var r RSS
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "RssAnon":
			dst = &r.Anon
		case "RssFile":
			dst = &r.File
		case "RssShmem":
			dst = &r.Shmem
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return RSS{}, fmt.Errorf("procmem: bad %s line %q", name, sc.Bytes())
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return RSS{}, fmt.Errorf("procmem: bad %s line %q", name, sc.Bytes())
		}
		*dst = n << 10
		found++
	}
	if found != 3 {
		return RSS{}, ErrUnsupported
	}
	return r, nil
}
