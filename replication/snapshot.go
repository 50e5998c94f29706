package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Snapshot file, version 1 (integers big-endian):
//
//	magic "VECGATE-REPL\n" | version:u32 | lsn:u64 | slot:str | signature:str | payload… |
//	crc32c:u32 (Castagnoli, over every byte before it) | "END\n"
//
// str is u32 length then bytes; payload is the Snapshotter's own format. The file is written to
// a temporary name, fsynced and renamed, so a crash leaves either the old or the new snapshot.
const (
	snapMagic   = "VECGATE-REPL\n"
	snapVersion = 1
	snapTrailer = "END\n"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func (s *Stream) snapshotPath() string {
	return filepath.Join(s.cfg.SnapshotDir, s.slot+".snapshot")
}

type crcWriter struct {
	w io.Writer
	h hash.Hash32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.h.Write(p)
	return c.w.Write(p)
}

// maybePersist writes a snapshot when snapshots are on, the Applier is between transactions and
// the applied position moved (and, unless force, SnapshotInterval has passed).
func (s *Stream) maybePersist(force bool) error {
	if s.snapshot == nil || s.inTxn || !s.haveData {
		return nil
	}
	s.mu.Lock()
	applied, persisted := s.status.Applied, s.status.Persisted
	s.mu.Unlock()
	if applied == persisted || !force && time.Since(s.lastSnap) < s.cfg.SnapshotInterval {
		return nil
	}
	began := time.Now()
	if err := s.writeSnapshot(applied); err != nil {
		return fmt.Errorf("replication: snapshot at %s: %w", applied, err)
	}
	s.lastSnap = time.Now()
	s.mu.Lock()
	s.status.Persisted = applied
	s.mu.Unlock()
	s.log.Debug("snapshot written", "lsn", applied, "seconds", time.Since(began).Seconds())
	return nil
}

func (s *Stream) writeSnapshot(lsn LSN) error {
	if err := os.MkdirAll(s.cfg.SnapshotDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.cfg.SnapshotDir, s.slot+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	bw := bufio.NewWriterSize(f, 1<<16)
	cw := &crcWriter{w: bw, h: crc32.New(crcTable)}
	e := &enc{w: bufio.NewWriterSize(cw, 1<<12)}
	e.raw([]byte(snapMagic))
	e.u32(snapVersion)
	e.u64(uint64(lsn))
	e.str(s.slot)
	e.str(s.signature)
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err == nil {
		e.err = s.snapshot.WriteSnapshot(cw)
	}
	if e.err == nil {
		var tail [4]byte
		binary.BigEndian.PutUint32(tail[:], cw.h.Sum32())
		_, e.err = bw.Write(append(tail[:], snapTrailer...))
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err == nil {
		e.err = f.Sync()
	}
	if cerr := f.Close(); e.err == nil {
		e.err = cerr
	}
	if e.err != nil {
		return e.err
	}
	if err := os.Rename(tmp, s.snapshotPath()); err != nil {
		return err
	}
	if d, err := os.Open(s.cfg.SnapshotDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

type crcReader struct {
	r io.Reader
	h hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	return n, err
}

// loadSnapshot reads the snapshot file into the Applier at Start. Any problem means starting
// without local state (a full initial load), never a wrong index.
func (s *Stream) loadSnapshot() {
	f, err := os.Open(s.snapshotPath())
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		s.log.Warn("cannot open snapshot; full load follows", "err", err)
		return
	}
	defer f.Close()
	lsn, sig, err := s.readSnapshot(f)
	if err != nil {
		s.log.Warn("snapshot unusable; full load follows", "path", s.snapshotPath(), "err", err)
		if rerr := s.cfg.Applier.Reset(nil); rerr != nil {
			s.log.Error("reset applier", "err", rerr)
		}
		return
	}
	s.haveData, s.signature = true, sig
	s.mu.Lock()
	s.status.Applied, s.status.Persisted = lsn, lsn
	s.mu.Unlock()
	s.log.Info("snapshot loaded", "lsn", lsn)
}

func (s *Stream) readSnapshot(f *os.File) (LSN, string, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	tailLen := int64(4 + len(snapTrailer))
	if fi.Size() < tailLen {
		return 0, "", errBadSnapshot
	}
	// The payload reader sees exactly the bytes covered by the checksum.
	cr := &crcReader{r: bufio.NewReaderSize(io.LimitReader(f, fi.Size()-tailLen), 1<<16), h: crc32.New(crcTable)}
	d := &dec{r: bufio.NewReaderSize(cr, 1)}
	if string(d.bytes(len(snapMagic))) != snapMagic {
		return 0, "", errBadSnapshot
	}
	if v := d.u32(); v != snapVersion {
		return 0, "", fmt.Errorf("version %d: %w", v, errBadSnapshot)
	}
	lsn := LSN(d.u64())
	slot, sig := d.str(), d.str()
	if d.err != nil {
		return 0, "", d.err
	}
	if slot != s.slot {
		return 0, "", fmt.Errorf("snapshot of slot %s, not %s: %w", slot, s.slot, errBadSnapshot)
	}
	if err := s.snapshot.ReadSnapshot(d.r); err != nil {
		return 0, "", err
	}
	if _, err := io.Copy(io.Discard, d.r); err != nil {
		return 0, "", err
	}
	tail := make([]byte, tailLen)
	if _, err := f.ReadAt(tail, fi.Size()-tailLen); err != nil {
		return 0, "", err
	}
	if string(tail[4:]) != snapTrailer || binary.BigEndian.Uint32(tail) != cr.h.Sum32() {
		return 0, "", fmt.Errorf("checksum mismatch: %w", errBadSnapshot)
	}
	return lsn, sig, nil
}
