package hnsw

import "unsafe"

// Node arrays that are wide per node (vectors, codes, level-0 links) are stored in chunks of
// chunkRows nodes. Growing appends a chunk and never copies what is stored, so an index of any
// size grows without stalling searches behind a copy and holds at most one chunk it does not use
// (a single doubling array holds up to twice what it needs). The first chunk grows by doubling,
// so a small index stays small.
const (
	chunkBits = 10
	chunkRows = 1 << chunkBits
)

// The chunks live outside the Go heap (offheap_unix.go: anonymous mappings, or a mapped file for
// the vectors when Config.VectorDir is set): the garbage collector neither scans them nor
// doubles them with its headroom. They are freed explicitly (release), never by the collector:
// whoever replaces or drops a rows value releases the old one under mu held exclusively, so no
// search still reads it (Index.Close, the first chunk's growth, Reorder, Requantize's swap).

// rows is a growable array of width-element rows, one per node, in chunks.
type rows[T uint8 | uint32 | float32] struct {
	width  int
	chunks [][]T
	file   *vecFile // nil: anonymous chunks; else chunks of this file (full chunks from the first)
}

// at returns row id (full slice expression: appends cannot spill into the next row).
func (r *rows[T]) at(id uint32) []T {
	c := r.chunks[id>>chunkBits]
	o := int(id&(chunkRows-1)) * r.width
	return c[o : o+r.width : o+r.width]
}

// read returns row id: for file-backed rows a copy read into buf (len width) without mapping
// the file's pages into the process (vecFile.read), else the row in place (as at).
func (r *rows[T]) read(id uint32, buf []T) []T {
	if r.file == nil {
		return r.at(id)
	}
	o := int(id&(chunkRows-1)) * r.width
	var t T
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), r.width*int(unsafe.Sizeof(t)))
	if !r.file.read(int(id>>chunkBits), o*int(unsafe.Sizeof(t)), b) {
		return r.at(id) // the mapping reads the same bytes
	}
	return buf[:r.width]
}

// set copies src (width elements) to row id: for file-backed rows with pwrite (no page of the file
// mapped into the process), else in place.
func (r *rows[T]) set(id uint32, src []T) {
	if r.file != nil {
		o := int(id&(chunkRows-1)) * r.width
		var t T
		b := unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), r.width*int(unsafe.Sizeof(t)))
		if r.file.write(int(id>>chunkBits), o*int(unsafe.Sizeof(t)), b) {
			return
		}
	}
	copy(r.at(id), src) // the mapping writes the same bytes
}

// capacity is the number of rows the chunks hold.
func (r *rows[T]) capacity() int {
	if len(r.chunks) == 0 || r.width == 0 {
		return 0
	}
	return (len(r.chunks)-1)*chunkRows + len(r.chunks[len(r.chunks)-1])/r.width
}

// grow makes room for at least n rows. Caller holds the index's mu exclusively.
func (r *rows[T]) grow(n int) {
	if r.width == 0 {
		return
	}
	for c := r.capacity(); c < n; c = r.capacity() {
		if r.file == nil && len(r.chunks) <= 1 && c < chunkRows {
			first := mapChunk[T](min(max(n, 2*c, 64), chunkRows)*r.width, nil)
			if c > 0 {
				copy(first, r.chunks[0])
				unmapChunk(r.chunks[0], false)
			}
			r.chunks = [][]T{first}
			continue
		}
		r.chunks = append(r.chunks, mapChunk[T](chunkRows*r.width, r.file))
	}
}

// each calls f with rows [0, n), a chunk at a time.
func (r *rows[T]) each(n int, f func([]T)) {
	for c := 0; n > 0; c++ {
		k := min(n, chunkRows)
		f(r.chunks[c][:k*r.width])
		n -= k
	}
}

// fill copies rows [0, len(src)/width) from src (which holds them back to back).
func (r *rows[T]) fill(src []T) {
	for c := 0; len(src) > 0; c++ {
		n := copy(r.chunks[c], src)
		src = src[n:]
	}
}

// bytes is the memory the chunks take.
func (r *rows[T]) bytes(elem int64) int64 {
	var b int64
	for _, c := range r.chunks {
		b += int64(cap(c)) * elem
	}
	return b + int64(cap(r.chunks))*24
}

// release frees the chunks (and the file) and drops every row. Caller holds the index's mu
// exclusively, or owns r alone: nothing reads the chunks afterwards.
func (r *rows[T]) release() {
	for _, c := range r.chunks {
		unmapChunk(c, r.file != nil)
	}
	r.chunks = nil
	if r.file != nil {
		r.file.close() //nolint:errcheck // an unlinked file: nothing is lost
		r.file = nil
	}
}

// dropResident removes the file-backed chunks' pages from the resident set (anonymous chunks
// stay: their pages are the only copy).
func (r *rows[T]) dropResident() {
	if r.file == nil {
		return
	}
	for _, c := range r.chunks {
		dropResident(c)
	}
}
