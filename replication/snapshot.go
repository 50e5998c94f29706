package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vecgate/vecgate/internal/fileformat"
)

// Snapshot file: an internal/fileformat container of kind "SNAP", version 2 (the format of every
// binary file vecgate writes: header, little-endian fields, a CRC-32C of everything before it):
//
//	lsn:u64 | slot:str | signature:str | payload…
//
// The payload is the Snapshotter's own container and the body's last field. The file is written
// to a temporary name, fsynced and renamed, so a crash leaves either the old or the new snapshot.
// Version 1 was a file of its own ("VECGATE-REPL\n", big-endian, CRC-32C): such a file is refused
// and a full load rebuilds the state.
const (
	snapKind    = "SNAP"
	snapVersion = 2
	// snapMagicV1 starts a version-1 file.
	snapMagicV1 = "VECGATE-REPL\n"
)

// errBadSnapshot: the snapshot file is not one this Stream can resume from.
var errBadSnapshot = errors.New("not a valid snapshot")

func (s *Stream) snapshotPath() string {
	return filepath.Join(s.cfg.SnapshotDir, s.slot+".snapshot")
}

// maybePersist writes a snapshot when snapshots are on, the Applier is between transactions and
// the applied position moved (and, unless force, SnapshotInterval has passed).
func (s *Stream) maybePersist(force bool) error {
	if s.snapshot == nil || s.inTxn || !s.haveData || len(s.syncs) > 0 {
		return nil // while a table loads alone, its twins would be missing from the file
	}
	s.mu.Lock()
	applied, persisted := s.status.Applied, s.status.Persisted
	s.mu.Unlock()
	if applied == persisted && !s.twinsChanged || !force && time.Since(s.lastSnap) < s.cfg.SnapshotInterval {
		return nil
	}
	began := time.Now()
	if err := s.writeSnapshot(applied); err != nil {
		return fmt.Errorf("replication: snapshot at %s: %w", applied, err)
	}
	s.lastSnap, s.twinsChanged = time.Now(), false
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
	e := fileformat.NewEncoderWith(f, snapKind, snapVersion, fileformat.CRC32C)
	e.U64(uint64(lsn))
	e.String(s.slot)
	e.String(s.signature)
	if err := s.snapshot.WriteSnapshot(e); err != nil {
		e.Fail(err)
	}
	err = e.Finish()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
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
	var head [len(snapMagicV1)]byte
	if _, err := f.ReadAt(head[:], 0); err == nil && string(head[:]) == snapMagicV1 {
		return 0, "", fmt.Errorf("written by an older vecgate (format 1): %w", errBadSnapshot)
	}
	d, err := fileformat.NewReader(f, snapKind, snapVersion)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	lsn := LSN(d.U64())
	slot, sig := d.String(), d.String()
	if err := d.Err(); err != nil {
		return 0, "", fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	if slot != s.slot {
		return 0, "", fmt.Errorf("snapshot of slot %s, not %s: %w", slot, s.slot, errBadSnapshot)
	}
	if err := s.snapshot.ReadSnapshot(d.Reader()); err != nil {
		return 0, "", err
	}
	if err := d.End(); err != nil {
		return 0, "", fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	return lsn, sig, nil
}
