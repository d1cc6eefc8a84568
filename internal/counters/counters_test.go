package counters

import (
	"maps"
	"strings"
	"sync"
	"testing"
)

func TestHistogramCumulativeBuckets(t *testing.T) {
	h := NewHistogram([]float64{1, 10, 100})
	for _, v := range []float64{0.5, 1, 5, 50, 500, 5000} {
		h.Observe(v)
	}
	s := h.Snapshot()
	want := map[float64]uint64{1: 2, 10: 3, 100: 4}
	for b, n := range want {
		if s.Buckets[b] != n {
			t.Errorf("bucket le=%v: %d, want %d", b, s.Buckets[b], n)
		}
	}
	if s.Count != 6 || s.Sum != 5556.5 {
		t.Errorf("count %d sum %v", s.Count, s.Sum)
	}
}

func TestVecsConcurrent(t *testing.T) {
	hv := NewHistogramVec(SecondBuckets)
	cv := NewCounterVec()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				hv.With("a", "b").Observe(0.01)
				cv.Add(2, "x")
			}
		}()
	}
	wg.Wait()
	hv.Each(func(l []string, s Snapshot) {
		if len(l) != 2 || l[0] != "a" || s.Count != 8000 {
			t.Errorf("histogram %v count %d", l, s.Count)
		}
	})
	cv.Each(func(l []string, n int64) {
		if n != 16000 {
			t.Errorf("counter %v = %d", l, n)
		}
	})
}

// Counting into an existing member is on every request's path: it must not allocate.
func TestVecsNoAllocs(t *testing.T) {
	hv := NewHistogramVec(SecondBuckets)
	cv := NewCounterVec()
	route, method := "/upload/*", "GET"
	hv.With(route, method).Observe(0.001)
	cv.Add(1, route, method, "2xx")
	if n := testing.AllocsPerRun(100, func() {
		hv.With(route, method).Observe(0.001)
		cv.Add(1, route, method, "2xx")
	}); n != 0 {
		t.Errorf("%v allocations per observation, want 0", n)
	}
}

func TestVecsLabels(t *testing.T) {
	cv := NewCounterVec()
	cv.Add(1, "a", "b")
	cv.Add(2, "a", "c")
	cv.Add(3, "a", "b")
	cv.Add(4)
	got := map[string]int64{}
	cv.Each(func(l []string, n int64) { got[strings.Join(l, "|")] = n })
	want := map[string]int64{"a|b": 4, "a|c": 2, "": 4}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
