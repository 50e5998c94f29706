package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// MaxDims bounds the dimension accepted by the readers (a corrupt header
// must not cause a huge allocation).
const MaxDims = 1 << 16

// ReadFvecs reads an .fvecs stream: per vector an int32 little-endian
// dimension followed by that many float32s. All vectors must have the same
// dimension. It returns the vectors contiguously.
func ReadFvecs(r io.Reader) (data []float32, dims int, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [4]byte
	var buf []byte
	for n := 0; ; n++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return data, dims, nil
			}
			return nil, 0, fmt.Errorf("bench: read fvecs vector %d: %w", n, err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d <= 0 || d > MaxDims || (dims != 0 && d != dims) {
			return nil, 0, fmt.Errorf("bench: read fvecs vector %d: bad dimension %d", n, d)
		}
		dims = d
		if len(buf) != 4*d {
			buf = make([]byte, 4*d)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, 0, fmt.Errorf("bench: read fvecs vector %d: %w", n, err)
		}
		for i := range d {
			data = append(data, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
}

// WriteFvecs writes rows of dims floats as .fvecs.
func WriteFvecs(w io.Writer, data []float32, dims int) error {
	if dims <= 0 || len(data)%dims != 0 {
		return fmt.Errorf("bench: write fvecs: %d floats are not rows of %d", len(data), dims)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var b [4]byte
	for i, x := range data {
		if i%dims == 0 {
			binary.LittleEndian.PutUint32(b[:], uint32(dims))
			bw.Write(b[:])
		}
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		bw.Write(b[:])
	}
	return bw.Flush()
}

// ReadIvecs reads an .ivecs stream (int32 dimension, then int32s).
func ReadIvecs(r io.Reader) ([][]int32, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [4]byte
	var out [][]int32
	for n := 0; ; n++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("bench: read ivecs row %d: %w", n, err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d < 0 || d > MaxDims {
			return nil, fmt.Errorf("bench: read ivecs row %d: bad length %d", n, d)
		}
		buf := make([]byte, 4*d)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("bench: read ivecs row %d: %w", n, err)
		}
		row := make([]int32, d)
		for i := range row {
			row[i] = int32(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		out = append(out, row)
	}
}

// WriteIvecs writes rows as .ivecs.
func WriteIvecs(w io.Writer, rows [][]int32) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var b [4]byte
	for _, row := range rows {
		binary.LittleEndian.PutUint32(b[:], uint32(len(row)))
		bw.Write(b[:])
		for _, x := range row {
			binary.LittleEndian.PutUint32(b[:], uint32(x))
			bw.Write(b[:])
		}
	}
	return bw.Flush()
}

// ReadFvecsFile reads an .fvecs file.
func ReadFvecsFile(path string) ([]float32, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	return ReadFvecs(f)
}

// ReadIvecsFile reads an .ivecs file.
func ReadIvecsFile(path string) ([][]int32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadIvecs(f)
}

// WriteFile creates path and fills it with write.
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Rows splits contiguous data into row slices (no copy).
func Rows(data []float32, dims int) [][]float32 {
	out := make([][]float32, len(data)/dims)
	for i := range out {
		out[i] = data[i*dims : (i+1)*dims : (i+1)*dims]
	}
	return out
}
