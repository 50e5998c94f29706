//go:build !race

package vectext_test

const raceEnabled = false
