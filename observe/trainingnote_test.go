package observe

import "testing"

func TestTrainingNote(t *testing.T) {
	for _, c := range []struct {
		ix   IndexStatus
		want string
	}{
		{IndexStatus{Method: "hnsw"}, ""},
		{IndexStatus{Method: "ivf-flat", TrainedRows: 1600}, "trained on 1600 rows"},
		{IndexStatus{Method: "ivf-flat", TrainedRows: 9999, Retrains: 1, Drift: 1.0712}, "trained on 9999 rows, 1 retrain, drift 1.07"},
		{IndexStatus{Method: "ivf-sq8", TrainedRows: 20000, Retrains: 3, Drift: 2, Retraining: true}, "trained on 20000 rows, 3 retrains, drift 2.00, retraining"},
	} {
		if got := trainingNote(c.ix); got != c.want {
			t.Errorf("trainingNote(%+v) = %q, want %q", c.ix, got, c.want)
		}
	}
	s := Status{Indexes: []IndexStatus{{Table: "public.t", Method: "ivf-flat", TrainedRows: 1600, Retrains: 1}}}
	if _, rows := s.Rows(); rows[0][13] != "trained on 1600 rows, 1 retrain" {
		t.Errorf("note %q", rows[0][13])
	}
	s.Load.Running = true
	if _, rows := s.Rows(); rows[0][13] == "trained on 1600 rows, 1 retrain" {
		t.Errorf("note during a load %q", rows[0][13])
	}
}
