package replication

// SetSnapshotHook makes f run on the goroutine that writes each snapshot, before it writes the
// file (nil: none); an error from f drops the snapshot. Set it while no Stream runs.
func SetSnapshotHook(f func(lsn LSN) error) { snapshotHook = f }
