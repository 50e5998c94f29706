//go:build race

package vectext_test

// raceEnabled: the race detector changes what escapes, so allocation counts are not checked.
const raceEnabled = true
