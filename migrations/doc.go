// Package migrations owns vecgate's own schema in the upstream database and runs users' own
// migration folders for `vecgate migrate`.
//
// vecgate's schema (schema vecgate: tables indexes and state, the event trigger function
// catalog_event and, when the migrating role is a superuser, the event triggers
// vecgate_catalog_end and vecgate_catalog_drop; see sql/) is embedded in the binary
// and applied with golang-migrate (iofs source, pgx/v5 driver). Its history is kept in
// vecgate.schema_migrations, so it never collides with a user's own public.schema_migrations, and
// its advisory lock differs from theirs: `serve` at start (Up) and a user's own migrations can run
// at the same time. Everything vecgate stores upstream is inside schema vecgate; dropping that
// schema removes it.
//
// A user's folder (Run with a dir) uses golang-migrate's file naming, NNN_title.up.sql and
// NNN_title.down.sql, and golang-migrate's default history table (schema_migrations in the
// connection's current schema), so a folder already managed by the migrate CLI keeps its state.
//
// Invariants:
//   - Nothing runs until the whole plan is known to be runnable: a misnamed or duplicate file, a
//     missing up or down file on the way, a dirty state, a version the folder does not know, or a
//     step count larger than what is there is reported before any SQL is sent.
//   - down always takes an explicit count; nothing here drops everything by default.
//   - A migration that fails leaves golang-migrate's dirty flag set; the error (*DirtyError) names
//     the file and the `vecgate migrate force` command that clears the flag once it is fixed.
//
// This package does not read flags or environment variables (cmd/vecgate does) and does not
// interpret the rows of vecgate.indexes (indexdef does).
package migrations
