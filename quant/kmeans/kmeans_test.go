package kmeans_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/quant/kmeans"
)

func TestSeparatesClusters(t *testing.T) {
	const dims, per = 4, 300
	centres := [][]float32{{10, 0, 0, 0}, {0, 10, 0, 0}, {0, 0, 10, 0}}
	r := rand.New(rand.NewPCG(1, 2))
	var data []float32
	for i := range 3 * per {
		c := centres[i%3]
		for j := range dims {
			data = append(data, c[j]+float32(r.NormFloat64()*0.5))
		}
	}
	cent, err := kmeans.Train(context.Background(), data, dims, 3, 10, 7, false, 2)
	if err != nil {
		t.Fatal(err)
	}
	found := map[int]bool{}
	for _, c := range centres {
		found[kmeans.Nearest(cent, dims, c)] = true
	}
	if len(found) != 3 {
		t.Fatalf("centroids %v do not separate the clusters", cent)
	}
	again, _ := kmeans.Train(context.Background(), data, dims, 3, 10, 7, false, 2)
	if !slices.Equal(cent, again) {
		t.Fatal("same seed gave different centroids")
	}
	if _, err := kmeans.Train(context.Background(), nil, dims, 3, 10, 7, false, 2); err == nil {
		t.Fatal("no data accepted")
	}
}
