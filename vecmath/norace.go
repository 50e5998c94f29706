//go:build !race

package vecmath

// raceRead tells the race detector about the reads of an assembly kernel; without -race it
// does nothing.
func raceRead[T float32 | int8 | uint8 | uint64](a, b []T) {}
