package replication

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/catalog"
)

// TestSnapshotFileRoundTrip writes a snapshot file through writeSnapshot and reads it back; a
// file of the old format (version 1), one of another slot and a damaged one are refused.
func TestSnapshotFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := NewMemory()
	tgt := Target{Schema: "public", Table: "items", Column: "emb"}
	if err := m.Reset([]TargetInfo{{Target: tgt, Kind: catalog.TypeVector, Dims: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Upsert(tgt, Row{Key: "k1", Vector: Vector{Kind: catalog.TypeVector, Dim: 2, Values: []float32{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	s := &Stream{cfg: Config{SnapshotDir: dir}, log: slog.New(slog.DiscardHandler), slot: "slot_a", snapshot: m, signature: "sig"}
	if err := s.writeSnapshot(0x16B3748); err != nil {
		t.Fatal(err)
	}
	read := func(s *Stream) (LSN, string, error) {
		f, err := os.Open(s.snapshotPath())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return s.readSnapshot(f)
	}
	n := NewMemory()
	lsn, sig, err := read(&Stream{cfg: s.cfg, slot: "slot_a", snapshot: n})
	if err != nil || lsn != 0x16B3748 || sig != "sig" {
		t.Fatalf("read back: lsn %s sig %q err %v", lsn, sig, err)
	}
	if v, ok := n.Get(tgt, "k1"); !ok || v.Dim != 2 || v.Values[1] != 2 {
		t.Fatalf("row after reload: %+v %v", v, ok)
	}

	data, err := os.ReadFile(s.snapshotPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slot_b.snapshot"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(&Stream{cfg: s.cfg, slot: "slot_b", snapshot: NewMemory()}); !errors.Is(err, errBadSnapshot) {
		t.Errorf("another slot's snapshot: %v", err)
	}
	damaged := append([]byte(nil), data...)
	damaged[len(damaged)-20] ^= 1
	if err := os.WriteFile(s.snapshotPath(), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(&Stream{cfg: s.cfg, slot: "slot_a", snapshot: NewMemory()}); err == nil {
		t.Error("damaged snapshot accepted")
	}

	old := snapMagicV1 + "\x00\x00\x00\x01 the rest of a version-1 file"
	if err := os.WriteFile(filepath.Join(dir, "slot_a.snapshot"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(&Stream{cfg: s.cfg, slot: "slot_a", snapshot: NewMemory()}); !errors.Is(err, errBadSnapshot) || !strings.Contains(err.Error(), "older vecgate") {
		t.Errorf("version-1 file: %v", err)
	}
}
