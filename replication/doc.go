// Package replication keeps an Applier (vecgate's in-memory indexes) equal to the vector columns
// of one upstream Postgres database, through pgoutput logical replication.
//
// Ownership: replication owns the publication and the permanent logical slot "vecgate_<name>"
// (pgoutput, protocol version 2, binary values), the initial load (the slot is created with an
// exported snapshot and every table is copied in binary under it on a second connection, then
// streaming starts at the slot's consistent point), decoding of pgoutput messages, the map from
// upstream relations to Targets, the applied and acknowledged positions, WaitFor, snapshot files
// and resynchronisation. It decides no query plans and imports no index package: the Applier
// interface is declared here, by its consumer, and Memory is a simple implementation.
//
// The upstream may be a physical standby (Postgres 16+, Config.Primary naming its primary;
// standby.go): the slots are the standby's, the publication is made on the primary and waited for
// until the standby replayed it, and CheckStandby says what a standby lacks.
//
// Where the live set of indexes is read: Stream.Status (state, applied LSN, lag, per-table skip
// reasons) and Stream.WaitFor are what the proxy/planner read; the Applier itself (an ann index or
// Memory) is what they search. Replication is its only writer.
//
// Invariants:
//   - Changes reach the Applier in commit order from a single goroutine; Applier.Commit(lsn) is
//     called at every upstream commit (and when a keepalive shows the server idle past the
//     applied position), and Status.Applied moves only after it.
//   - Large transactions are applied as they stream, never buffered: Postgres already holds an
//     open transaction back until its commit (spilling to disk past logical_decoding_work_mem),
//     so what arrives is committed data and vecgate's memory stays bounded by one message. The
//     price is that a concurrent reader of the Applier may see part of a committed transaction
//     before its Commit; WaitFor and Status.Applied only ever report whole transactions, and a
//     snapshot is only taken between transactions (SnapshotFreezer: frozen there, written by
//     a goroutine of its own while changes are applied).
//   - Apply is idempotent: a transaction whose commit record precedes the applied position is
//     skipped, and Upsert/Delete/Truncate are set operations, so a replay after a reconnect or a
//     crash changes nothing.
//   - Only applied positions are acknowledged to Postgres; with snapshots on, only persisted ones.
//     The slot therefore always retains what a restart from the last snapshot needs.
//   - An UPDATE whose vector is TOAST-unchanged keeps the stored vector (Row.KeepVector), also
//     when the key changed (Row.OldKey: the row moves). A NULL vector is not indexed: the row
//     reaches the Applier as an Upsert with a null Vector, so it knows the row exists.
//   - A row whose vector cannot be decoded, or that the Applier rejects (ErrRejected), is left
//     out of the index, logged and counted (Status.RejectedRows); it never stops replication.
//     An Applier that refused the row in some indexes only (ErrRejectedHandled) has left it out
//     of those and kept it in the others: nothing is deleted.
//   - Tables without a usable key (no primary key or replica identity index, replica identity
//     NOTHING), vector columns of unsupported types, and tables not found are listed in
//     Status.Tables with the reason, and never added to the publication (which would make their
//     UPDATEs and DELETEs fail upstream). Nor are tables a publication cannot hold (unlogged,
//     temporary) or generated columns (Postgres 17): one of them would make the publication,
//     and so every table, fail.
//   - The twins of a table follow one relation (OID) under one name: a Relation message for
//     another relation under that name, or for that relation under another name, retires them
//     (Retirer) and the catalog is read again at the transaction's end (without a TableLoader:
//     resynchronises).
//   - With a TableLoader Applier, a catalog change is acted on table by table (tablesync.go): a
//     change of one table retires or loads that table's twins alone, while the stream applies
//     every other table and the Applier stays Ready. A change is in a table's copy iff its
//     transaction's commit record starts before the temporary slot's consistent point; the
//     others are queued and replayed before the hand-over.
//   - If the slot is missing, invalidated (wal_status 'lost'), behind what is held locally, or
//     the set of replicated tables/columns changed in a way the stream does not follow table by
//     table (a vector or key column changed under a twin, a different catalog at reconnect, an
//     Applier that is not a TableLoader), the slot is dropped and recreated and everything is
//     loaded again; meanwhile Status.State is StateLoading and Ready is false.
//   - Connection loss or an upstream restart ends a session; the Stream reconnects with
//     exponential backoff (with jitter) and resumes from the applied position.
//
// Catalog refresh: the catalog is re-read at every (re)connect (and once more after an initial
// load, when the slot exists). Columns added outside the column list are not published and need
// nothing. Any other session's DDL, GRANT or REVOKE comes as a 'vecgate.catalog' logical decoding
// message from vecgate's event trigger (messages 'true'): at that transaction's commit the
// catalog is read again (what changed is acted on, table by table) and CatalogEpoch moves, both
// before Status.Applied passes the commit. Without the trigger, a periodic check
// (CatalogInterval); Refresh asks for a check at once.
package replication
