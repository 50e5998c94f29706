package observe_test

import (
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/observe"
)

func TestRecallAt(t *testing.T) {
	exact := []ann.Result{{Key: ann.IntKey(1), Distance: 1}, {Key: ann.IntKey(2), Distance: 2},
		{Key: ann.IntKey(3), Distance: 3}, {Key: ann.IntKey(4), Distance: 3}, {Key: ann.IntKey(5), Distance: 5}}
	keys := func(ks ...int64) []ann.Key {
		var out []ann.Key
		for _, k := range ks {
			out = append(out, ann.IntKey(k))
		}
		return out
	}
	for _, c := range []struct {
		k    int
		got  []ann.Key
		want float64
	}{
		{3, keys(1, 2, 3), 1},
		{3, keys(3, 2, 1, 9, 10), 1},   // candidates beyond k: recall of the k nearest among them
		{3, keys(1, 2, 4), 1},          // 4 ties with the 3rd: either is right
		{3, keys(1, 2, 5), 2.0 / 3},    // 5 is farther
		{3, keys(1, 2, 3, 4), 1},       // never above 1
		{2, keys(9), 0},                //
		{10, keys(1, 2, 3, 4, 5), 1},   // the table has 5 rows: all found
		{10, keys(1, 2), 2.0 / 5},      //
		{4, keys(1, 2, 3, 4, 5, 6), 1}, //
	} {
		got, ok := observe.RecallAt(c.k, exact, c.got)
		if !ok || got != c.want {
			t.Errorf("RecallAt(%d, %v) = %v, %v; want %v", c.k, c.got, got, ok, c.want)
		}
	}
	if _, ok := observe.RecallAt(3, nil, keys(1)); ok {
		t.Error("RecallAt of an empty exact answer is ok")
	}
}

// TestRecallOff: a zero rate builds no spot-check, and a nil one takes nothing.
func TestRecallOff(t *testing.T) {
	r := observe.NewRecall(observe.RecallConfig{})
	if r != nil {
		t.Fatal("NewRecall with rate 0 is not nil")
	}
	r.Start()
	if r.Take() || r.Dropped() != 0 {
		t.Error("a nil spot-check takes samples")
	}
	r.Offer(nil, nil, 1, nil)
	r.Close()
}

// TestRecallRateLimit: at most PerSecond samples a second pass Take, whatever the rate.
func TestRecallRateLimit(t *testing.T) {
	r := observe.NewRecall(observe.RecallConfig{Rate: 1, PerSecond: 1})
	taken := 0
	for range 10000 {
		if r.Take() {
			taken++
		}
	}
	if taken != 1 {
		t.Errorf("%d samples taken in a burst at 1 a second", taken)
	}
}
