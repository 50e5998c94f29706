package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pglogrepl"

	"github.com/vecgate/vecgate/catalog"
)

// LSN is a position in the upstream write-ahead log; String formats it as 0/16B3748.
type LSN = pglogrepl.LSN

// ParseLSN parses the 0/16B3748 form.
func ParseLSN(s string) (LSN, error) { return pglogrepl.ParseLSN(s) }

// Target names one replicated vector column. It is comparable (a map key).
type Target struct {
	Schema, Table, Column string
}

func (t Target) String() string { return t.Schema + "." + t.Table + "." + t.Column }

// TargetInfo describes a Target for Applier.Reset.
type TargetInfo struct {
	Target
	// OID is the table's relation OID (pg_class.oid) in the upstream database: twins, session
	// checks and rewrite guards key on it, so a table replaced under the same name is not taken
	// for the one indexed.
	OID     uint32
	Kind    catalog.VectorType
	Dims    int              // 0: not declared by the column type
	Key     []catalog.Column // key columns; Key values are their binary send format
	Include []string         // INCLUDE columns, in Row.Include order
	// IncludeTypes is each INCLUDE column's type as format_type prints it ("integer", "text", …),
	// same order; "" for a column with a nondeterministic collation.
	IncludeTypes []string
	// CoverOnly, when set, marks the Include columns only a "*" asked for (Includer): kept to
	// answer statements that return them, not to filter on (their types are given whatever
	// their collation). Same order as Include.
	CoverOnly []bool
	// Nondeterministic, when set, marks the Include columns whose collation is nondeterministic
	// (equality is not bytewise): their values are not compared. Same order as Include.
	Nondeterministic []bool
	Indexes          []catalog.Index // pgvector indexes on this column
	// Columns names every column of the table, in order (what `SELECT *` returns).
	Columns []string
}

// Key identifies a row: the binary send format of its key column, or for a composite key each
// column's bytes prefixed by a 4-byte big-endian length. Compare keys as strings.
type Key string

// Int64 decodes a key made of one int2, int4 or int8 column.
func (k Key) Int64() (int64, bool) {
	switch len(k) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16([]byte(k)))), true
	case 4:
		return int64(int32(binary.BigEndian.Uint32([]byte(k)))), true
	case 8:
		return int64(binary.BigEndian.Uint64([]byte(k))), true
	}
	return 0, false
}

// Datum is an INCLUDE column's value: its binary send format, or its text output format when
// Text is set (pgoutput sends text for types without a binary form).
type Datum struct {
	Value     []byte
	Null      bool
	Unchanged bool // TOASTed and not modified by an update: keep the stored value
	Text      bool
}

// Row is an inserted or updated row as one Target sees it.
type Row struct {
	Key Key
	// OldKey is set when an update changed the key: the row moves from OldKey to Key.
	OldKey Key
	Vector Vector
	// KeepVector: the update did not touch the (TOASTed) vector, which pgoutput then does not
	// send; keep the stored one (taken from OldKey when the key changed).
	KeepVector bool
	Include    []Datum
}

// ErrRejected may be wrapped by an Applier's Upsert to refuse one row (for example a vector of the
// wrong dimension for the index). Replication logs it, counts it in Status.RejectedRows, deletes
// the key and carries on; any other Applier error ends the replication session (which then
// reconnects and resumes, or resynchronises).
var ErrRejected = errors.New("row rejected")

// ErrRejectedHandled may be wrapped by an Applier's Upsert that refused a row in some of its
// indexes and has already left it out of those (a zero vector refused by a cosine index stays in
// the L2 index of the same column). Replication logs and counts it like ErrRejected, but deletes
// nothing: each index accepts or refuses a row alone.
// It wraps ErrRejected.
var ErrRejectedHandled = fmt.Errorf("%w, left out of the indexes that refused it", ErrRejected)

// Applier receives replicated changes. It is declared here, its consumer; ann indexes (and
// Memory) implement it. All calls come from one goroutine, in commit order; calls between two
// Commits belong to one upstream transaction (or, after Reset, to the initial load).
//
// Apply is idempotent: replaying a change already applied must leave the same state (an Upsert
// overwrites, a Delete of a missing key is not an error).
type Applier interface {
	// Reset discards everything held and prepares for these targets (an initial load follows).
	Reset(targets []TargetInfo) error
	// Upsert inserts or replaces the row of r.Key (removing r.OldKey first when set). A row whose
	// vector is NULL comes with r.Vector.Values nil (and not r.KeepVector): the row exists but
	// has no vector to index.
	Upsert(t Target, r Row) error
	// Delete removes key (the row was deleted).
	Delete(t Target, key Key) error
	// Truncate removes every row of t.
	Truncate(t Target) error
	// Commit marks every change so far as applied up to lsn; readers may rely on it.
	Commit(lsn LSN) error
}

// Retirer is implemented by an Applier that can drop one target at once (its table was replaced,
// renamed or dropped upstream): from then on the target is not searched, until a Reset or a
// Staged.Publish brings it back.
type Retirer interface {
	Retire(t Target)
}

// Includer is implemented by an Applier that wants extra columns with each row, passed in
// Row.Include: IncludeColumns returns them ("schema.table" → column names). The stream asks at
// the start of every session; a column that does not exist is left out (with a warning). A
// changed list changes the publication and leads to a full reload: call Stream.Reload to start
// one at once.
//
// A table named "*" applies to every table, and a column named "*" stands for every column of
// the table the Includer's Covers accepts (when it implements Coverer; else every column) but
// the key, vector and generated ones, in table order: a covering twin holds them to answer
// statements that return them.
type Includer interface {
	IncludeColumns() map[string][]string
}

// Coverer is implemented by an Includer that asks for "*" columns: Covers says whether it holds
// a column of that type.
type Coverer interface {
	Covers(c catalog.Column) bool
}

// Snapshotter is implemented by an Applier whose state replication may persist. WriteSnapshot
// and ReadSnapshot are only called between Commits. The bytes are wrapped by replication in a
// file with its own header (version, slot, LSN) and checksum, so implementations only describe
// their data.
type Snapshotter interface {
	WriteSnapshot(w io.Writer) error
	// ReadSnapshot replaces the state with the snapshot's. On error the state is unspecified
	// and replication calls Reset.
	ReadSnapshot(r io.Reader) error
}

// SnapshotFreezer is implemented by a Snapshotter that can take its state as it is now at little
// cost (FreezeSnapshot is called between Commits, on the stream's goroutine) and write it later
// on another goroutine while changes are applied: replication then writes snapshots off the
// apply path. Without it, WriteSnapshot runs between Commits.
type SnapshotFreezer interface {
	FreezeSnapshot() (SnapshotView, error)
}

// SnapshotView is a Snapshotter's state taken by FreezeSnapshot. WriteSnapshot writes what
// Snapshotter.WriteSnapshot would have written at the freeze; Release (always called, once,
// after WriteSnapshot or instead of it) frees what the view holds.
type SnapshotView interface {
	WriteSnapshot(w io.Writer) error
	Release()
}

// Sink is where a table's changes go: an Applier, or one table's twins loaded apart (Staged).
type Sink interface {
	Upsert(t Target, r Row) error
	Delete(t Target, key Key) error
	Truncate(t Target) error
}

// TableLoader is implemented by an Applier that can change one table's twins while every other
// keeps answering, as a catalog change asks (see Stream.Refresh): without it, any such change
// reloads everything.
//
// Stage and Narrow are called from the stream's goroutine, like every other Applier call.
type TableLoader interface {
	// Stage returns empty twins for targets (every replicated vector column of one table),
	// which queries do not see until Publish. The twins the Applier holds for those targets (a
	// table whose new index or include column is being loaded) keep answering meanwhile and keep
	// receiving the table's changes through the Applier.
	Stage(targets []TargetInfo) (Staged, error)
	// Narrow gives targets (one table's, whose rows did not change) the pgvector indexes they
	// list now, all of which the Applier already mirrors: the twins of indexes no longer listed
	// (DROP INDEX) are retired, the others keep answering.
	Narrow(targets []TargetInfo)
}

// Staged is one table's twins loaded apart (TableLoader.Stage). One goroutine at a time calls
// it: the table's COPY (Stream's sync goroutine), then, after that ended (a channel receive
// orders the two), the stream's goroutine, which replays the changes queued meanwhile and calls
// Publish or Discard.
type Staged interface {
	Sink
	// Publish makes the staged twins the targets' twins: the Applier's twins of those targets
	// are replaced (and retired); a target without a staged twin (its column has no index the
	// Applier mirrors) has none from then on.
	Publish() error
	// Discard drops the staged twins (the load was abandoned).
	Discard()
	// Empty reports whether there is no twin to fill (no index of the table's is mirrored):
	// the stream then publishes at once, copying nothing.
	Empty() bool
}
