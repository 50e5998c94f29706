//go:build race

package vecmath

import (
	"runtime"
	"unsafe"
)

// raceRead tells the race detector that an assembly kernel reads a and b[:len(a)]; it does not
// see reads made in assembly.
func raceRead[T float32 | int8 | uint8 | uint64](a, b []T) {
	if len(a) == 0 {
		return
	}
	n := len(a) * int(unsafe.Sizeof(a[0]))
	runtime.RaceReadRange(unsafe.Pointer(&a[0]), n)
	runtime.RaceReadRange(unsafe.Pointer(&b[0]), n)
}
