//go:build !unix

package hnsw

import (
	"errors"
	"unsafe"
)

// mapChunk returns n zeroed elements of T (on the Go heap: systems without mmap).
func mapChunk[T uint8 | uint32 | float32](n int, _ *vecFile) []T { return make([]T, n) }

// unmapChunk drops a chunk (the garbage collector frees it).
func unmapChunk[T uint8 | uint32 | float32](c []T, inFile bool) {}

// dropResident does nothing without mmap.
func dropResident[T uint8 | uint32 | float32](c []T) {}

// vecFile is not available without mmap.
type vecFile struct{}

func openVecFile(dir string) (*vecFile, error) {
	return nil, errors.New("hnsw: Config.VectorDir needs mmap (a unix system)")
}

func (v *vecFile) mapRegion(size uintptr) (unsafe.Pointer, error) { return nil, errors.ErrUnsupported }

func (v *vecFile) close() error { return nil }

func (v *vecFile) read(c, o int, dst []byte) bool { return false }

func (v *vecFile) write(c, o int, src []byte) bool { return false }
