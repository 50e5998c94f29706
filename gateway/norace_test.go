//go:build !race

package gateway

// recallRows is TestInterceptRecall's table size (see race_test.go).
const recallRows = 50000

// burstRows is TestBulkDeleteAfterConcurrentInserts' burst (see race_test.go).
const burstRows = 5500

// shortFilteredRows is TestShortFilteredAnswer's table size (see race_test.go).
const shortFilteredRows = 19200
