package replication

// SetSnapshotHook makes f run on the goroutine that finishes each snapshot, before the file is
// synced (nil: none). Set it while no Stream runs.
func SetSnapshotHook(f func(lsn LSN)) { snapshotHook = f }
