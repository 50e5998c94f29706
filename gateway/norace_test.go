//go:build !race

package gateway

import "time"

// recallRows is TestInterceptRecall's table size (see race_test.go).
const recallRows = 50000

// burstRows is TestBulkDeleteAfterConcurrentInserts' burst (see race_test.go).
const burstRows = 5500

// shortFilteredRows is TestShortFilteredAnswer's table size (see race_test.go).
const shortFilteredRows = 19200

// applyWait bounds waitLen (see race_test.go).
const applyWait = 2 * time.Minute

// pageBudget bounds the status page with 100 twins: the target, 100 ms (4 ms here).
const pageBudget = 100 * time.Millisecond
