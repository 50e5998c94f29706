//go:build race

package gateway

import "time"

// recallRows is TestInterceptRecall's table size: the race detector slows the load about tenfold,
// so the -race suite uses 20,000 rows; scripts/test runs the test again without it on 50,000.
const recallRows = 20000

// burstRows is how many rows TestBulkDeleteAfterConcurrentInserts inserts and deletes (the report
// had 5,500; under the race detector fewer keep the test short, and still most of the graph goes).
// Applying one-row commits is dominated by relinking the inner-product twin's unreached nodes
// (96 % of the CPU in a profile): 2,000 rows missed the two-minute wait in a loaded CI run.
const burstRows = 1200

// shortFilteredRows is TestShortFilteredAnswer's table size: relinking the nodes its clustered
// inner-product graph leaves unreached took over two minutes under the race detector at 19,200
// rows (7 s without it).
const shortFilteredRows = 4800

// applyWait bounds waitLen: under the race detector, applying a burst of one-row commits to three
// twins took 73 s alone here and over two minutes in CI beside other packages' tests.
const applyWait = 5 * time.Minute

// pageBudget bounds the status page with 100 twins (the target is 100 ms): 30 ms here under the
// race detector, which slows it about eightfold, so a loaded CI run gets room.
const pageBudget = 500 * time.Millisecond
