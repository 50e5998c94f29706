//go:build race

package main

// recallRows is TestInterceptRecall's table size: the race detector slows the load about tenfold,
// so the -race suite uses 20,000 rows; scripts/test runs the test again without it on 50,000.
const recallRows = 20000
