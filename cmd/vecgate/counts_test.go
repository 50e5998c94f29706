package main

// countsSnapshot copies the gateway's counts by key (tally.keyed), for the tests.
func countsSnapshot(c *counts) map[string]int64 { return c.snapshot().keyed() }
