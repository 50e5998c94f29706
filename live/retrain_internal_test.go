package live

import (
	"testing"

	"github.com/vecgate/vecgate/ann/ivf"
)

func TestRetrainDue(t *testing.T) {
	trained := ivf.TrainStats{Trained: true, Rows: 10000}
	for _, c := range []struct {
		name string
		st   ivf.TrainStats
		rows int
		want bool
	}{
		{"untrained", ivf.TrainStats{Rows: 0}, 50000, false},
		{"grew less than twice", trained, 19999, false},
		{"grew twice", trained, 20000, true},
		{"running", ivf.TrainStats{Trained: true, Rows: 10000, Retraining: true}, 50000, false},
		{"drift over few rows", ivf.TrainStats{Trained: true, Rows: 10000, Added: 2499, Drift: 3}, 12499, false},
		{"drift over enough rows", ivf.TrainStats{Trained: true, Rows: 10000, Added: 2500, Drift: 1.5}, 12500, true},
		{"no drift", ivf.TrainStats{Trained: true, Rows: 10000, Added: 9000, Drift: 1.2}, 19000, false},
		{"small index: at least 1000 rows", ivf.TrainStats{Trained: true, Rows: 1600, Added: 999, Drift: 5}, 2599, false},
		{"small index drifted", ivf.TrainStats{Trained: true, Rows: 1600, Added: 1000, Drift: 5}, 2600, true},
	} {
		if got := retrainDue(c.st, c.rows); got != c.want {
			t.Errorf("%s: retrainDue(%+v, %d) = %v", c.name, c.st, c.rows, got)
		}
	}
}
