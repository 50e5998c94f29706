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
//
// Only the freeze runs here, on the stream's goroutine: the Applier's state at the applied
// position is taken (SnapshotFreezer: live.Set copies little; an Applier without it streams its
// state into the temporary file here). The rest — writing the file, fsync, the rename over the
// last snapshot, fsync of the directory — runs on a goroutine of its own (finishSnapshot) while
// changes are applied, and Status.Persisted, the position acknowledged to Postgres, moves only
// once the file is durable. One snapshot is written at a time: while one is, a due snapshot
// waits for the next call.
func (s *Stream) maybePersist(force bool) error {
	if s.snapshot == nil || s.inTxn || !s.haveData || len(s.syncs) > 0 {
		return nil // while a table loads alone, its twins would be missing from the file
	}
	if s.snapFailed.Swap(false) {
		s.twinsChanged = true // the last write failed: write again even if the position did not move
	}
	force = force || s.persistDue
	if s.snapBusy.Load() {
		s.persistDue = force // one is being finished: this one is written once it is done
		return nil
	}
	s.mu.Lock()
	applied, persisted := s.status.Applied, s.status.Persisted
	s.mu.Unlock()
	if applied == persisted && !s.twinsChanged {
		s.persistDue = false // nothing new to write
		return nil
	}
	if !force && time.Since(s.lastSnap) < s.cfg.SnapshotInterval {
		return nil
	}
	w, err := s.encodeSnapshot(applied)
	if err != nil {
		return fmt.Errorf("replication: snapshot at %s: %w", applied, err)
	}
	s.lastSnap, s.twinsChanged, s.persistDue = time.Now(), false, false
	s.snapBusy.Store(true)
	s.snapWG.Go(func() {
		defer s.snapBusy.Store(false)
		if err := s.finishSnapshot(w); err != nil {
			s.snapFailed.Store(true)
			s.log.Warn("snapshot not written; trying again", "lsn", w.lsn, "err", err)
		}
	})
	return nil
}

// waitSnapshot waits until the snapshot being finished, if any, is durable (or failed).
func (s *Stream) waitSnapshot() { s.snapWG.Wait() }

// snapshotWrite is a snapshot to be written (view) into a temporary file, made durable and put
// in place.
type snapshotWrite struct {
	f     *os.File
	e     *fileformat.Encoder // the file's; nil once finished
	view  SnapshotView        // the state to write, when the Applier froze it
	lsn   LSN
	gen   uint64 // s.dataGen when encoded: a later initial load makes the file stale
	began time.Time
	// encoded is how long the encoding took (the stream's goroutine applied nothing meanwhile).
	encoded time.Duration
}

// snapshotHook, when set (tests), runs on the finishing goroutine before the file is written;
// an error drops the snapshot.
var snapshotHook func(lsn LSN) error

// encodeSnapshot starts a snapshot at lsn in a temporary file in SnapshotDir: the Applier's state
// frozen (SnapshotFreezer), to be written by finishSnapshot, or else streamed into the file now.
func (s *Stream) encodeSnapshot(lsn LSN) (*snapshotWrite, error) {
	began := time.Now()
	if err := os.MkdirAll(s.cfg.SnapshotDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.cfg.SnapshotDir, s.slot+".tmp*")
	if err != nil {
		return nil, err
	}
	e := fileformat.NewEncoderWith(f, snapKind, snapVersion, fileformat.CRC32C)
	e.U64(uint64(lsn))
	e.String(s.slot)
	e.String(s.signature)
	w := &snapshotWrite{f: f, e: e, lsn: lsn, gen: s.dataGen.Load(), began: began}
	if fz, ok := s.snapshot.(SnapshotFreezer); ok {
		w.view, err = fz.FreezeSnapshot()
	} else {
		err = w.write(s)
	}
	w.encoded = time.Since(began)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return w, nil
}

// write writes what is left of the snapshot into its file: the frozen view, if any (released
// then), and the trailer.
func (w *snapshotWrite) write(s *Stream) error {
	if w.e == nil {
		return nil
	}
	if w.view != nil {
		if err := w.view.WriteSnapshot(w.e); err != nil {
			w.e.Fail(err)
		}
		w.view.Release()
		w.view = nil
	} else if err := s.snapshot.WriteSnapshot(w.e); err != nil {
		w.e.Fail(err)
	}
	err := w.e.Finish()
	w.e = nil
	return err
}

// finishSnapshot writes w (its frozen view), makes it durable and puts it in place of the last
// snapshot: fsync, rename, fsync of the directory; then Status.Persisted moves to its position
// (unless an initial load started since: the file then holds a state the slot no longer
// continues, and is dropped).
func (s *Stream) finishSnapshot(w *snapshotWrite) error {
	tmp := w.f.Name()
	defer os.Remove(tmp) // no-op once renamed
	var err error
	if h := snapshotHook; h != nil {
		err = h(w.lsn)
	}
	if err == nil {
		err = w.write(s)
	}
	if w.view != nil { // not written
		w.view.Release()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if s.dataGen.Load() != w.gen {
		return nil
	}
	if err := os.Rename(tmp, s.snapshotPath()); err != nil {
		return err
	}
	d, err := os.Open(s.cfg.SnapshotDir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.dataGen.Load() == w.gen && w.lsn > s.status.Persisted {
		s.status.Persisted = w.lsn
	}
	s.mu.Unlock()
	s.log.Debug("snapshot written", "lsn", w.lsn, "seconds", time.Since(w.began).Seconds(),
		"encoding_seconds", w.encoded.Seconds())
	return nil
}

// writeSnapshot writes a snapshot at lsn and waits until it is durable.
func (s *Stream) writeSnapshot(lsn LSN) error {
	w, err := s.encodeSnapshot(lsn)
	if err != nil {
		return err
	}
	return s.finishSnapshot(w)
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
