//go:build unix

package hnsw

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapChunk returns n zeroed elements of T outside the Go heap: an anonymous private mapping, or
// when f is set a shared mapping of f's next chunk-sized region (the file grows to hold it).
// The kernel gives the pages only as they are touched; the garbage collector never scans or
// counts them (they hold no pointers), so GOGC's headroom does not double them.
func mapChunk[T uint8 | uint32 | float32](n int, f *vecFile) []T {
	if n == 0 {
		return nil
	}
	if f == nil && raceEnabled {
		return make([]T, n) // see race_on.go
	}
	size := uintptr(n) * unsafe.Sizeof(T(0))
	var p unsafe.Pointer
	var err error
	if f == nil {
		p, err = unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	} else {
		p, err = f.mapRegion(size)
	}
	if err != nil {
		// Out of address space or memory: the Go heap would fail the same way (make panics).
		panic(fmt.Sprintf("hnsw: map %d bytes outside the Go heap: %v", size, err))
	}
	return unsafe.Slice((*T)(p), n)
}

// unmapChunk releases a chunk mapChunk returned (of a file: inFile). Nothing may read it
// afterwards.
func unmapChunk[T uint8 | uint32 | float32](c []T, inFile bool) {
	if cap(c) == 0 || !inFile && raceEnabled {
		return
	}
	c = c[:cap(c)]
	if err := unix.MunmapPtr(unsafe.Pointer(&c[0]), uintptr(len(c))*unsafe.Sizeof(c[0])); err != nil {
		panic(fmt.Sprintf("hnsw: unmap: %v", err))
	}
}

// vecFile is an unlinked file in a directory (Config.VectorDir) that holds an index's float32
// vectors, mapped a chunk at a time: the page cache holds them, and the kernel can drop the
// pages searches do not touch (clean ones without swap) instead of keeping them in anonymous
// memory. It disappears when closed, or when the process ends.
type vecFile struct {
	f      *os.File
	size   int64 // bytes mapped so far (the next region's offset)
	region int64 // bytes of a region (every chunk of a file-backed rows is a full one); 0 before the first
}

// openVecFile creates the unlinked file in dir.
func openVecFile(dir string) (*vecFile, error) {
	f, err := os.CreateTemp(dir, ".hnsw-vectors-*")
	if err != nil {
		return nil, fmt.Errorf("hnsw: vector file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("hnsw: vector file: %w", err)
	}
	return &vecFile{f: f}, nil
}

// mapRegion grows the file by size bytes (rounded up to pages) and maps the new region shared,
// with random access advised (a rerank reads a few vectors: no read-ahead).
func (v *vecFile) mapRegion(size uintptr) (unsafe.Pointer, error) {
	page := uintptr(os.Getpagesize())
	size = (size + page - 1) / page * page
	off := v.size
	if err := v.f.Truncate(off + int64(size)); err != nil {
		return nil, err
	}
	p, err := unix.MmapPtr(int(v.f.Fd()), off, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	v.size += int64(size)
	v.region = int64(size)
	_ = unix.Madvise(unsafe.Slice((*byte)(p), size), unix.MADV_RANDOM) // advice only
	return p, nil
}

// dropResident removes a chunk's pages from the process's resident set (they stay in the page
// cache, written back when dirty, and come back on the next read): for file-backed chunks after
// a bulk write touched them all.
func dropResident[T uint8 | uint32 | float32](c []T) {
	if cap(c) == 0 {
		return
	}
	c = c[:cap(c)]
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), uintptr(len(c))*unsafe.Sizeof(c[0])), unix.MADV_DONTNEED) // advice only
}

// read copies the bytes at byte o of chunk c into dst with pread, reading the page cache without
// mapping its pages into the process (a mapped read maps whole folios of the file, and with them
// most of the file, into the resident set: measured, touching one page in 64 of a 128 MiB mapping
// made 110 MiB resident). It reports false when the read failed.
func (v *vecFile) read(c, o int, dst []byte) bool { return v.rw(unix.Pread, c, o, dst) }

// write copies src to byte o of chunk c with pwrite (as read: no page mapped into the process).
// It reports false when the write failed.
func (v *vecFile) write(c, o int, src []byte) bool { return v.rw(unix.Pwrite, c, o, src) }

// rw runs op (pread or pwrite) until b is done.
func (v *vecFile) rw(op func(int, []byte, int64) (int, error), c, o int, b []byte) bool {
	off := int64(c)*v.region + int64(o)
	for len(b) > 0 {
		n, err := op(int(v.f.Fd()), b, off)
		if err != nil || n == 0 {
			return false
		}
		b, off = b[n:], off+int64(n)
	}
	return true
}

// close closes the file (its mappings must be unmapped first); the space is freed.
func (v *vecFile) close() error { return v.f.Close() }
