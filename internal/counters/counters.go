package counters

import (
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Buckets for file transfers: bytes from 1 KiB to 16 GiB, seconds from 1 ms to 2 h.
var (
	ByteBuckets = []float64{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20,
		16 << 20, 64 << 20, 256 << 20, 1 << 30, 4 << 30, 16 << 30}
	SecondBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
		10, 30, 60, 300, 900, 1800, 3600, 7200}
)

// Histogram counts observations into fixed upper bounds.
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; the last one is +Inf
	sum    atomic.Uint64   // float64 bits
}

// NewHistogram makes a histogram with the given sorted upper bounds.
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Snapshot is a histogram's state: cumulative counts per upper bound, as Prometheus wants.
type Snapshot struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Buckets: make(map[float64]uint64, len(h.bounds))}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		s.Buckets[b] = cum
	}
	s.Count = cum + h.counts[len(h.bounds)].Load()
	s.Sum = math.Float64frombits(h.sum.Load())
	return s
}

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct {
	bounds []float64
	mu     sync.RWMutex
	m      map[string]*Histogram
}

// NewHistogramVec makes a family whose members share bounds.
func NewHistogramVec(bounds []float64) *HistogramVec {
	return &HistogramVec{bounds: bounds, m: map[string]*Histogram{}}
}

// sep joins label values; it cannot occur in them (they are fixed words, never user input).
const sep = "\x00"

// With returns the member for the label values, creating it on first use.
func (v *HistogramVec) With(labels ...string) *Histogram {
	key := strings.Join(labels, sep)
	v.mu.RLock()
	h := v.m[key]
	v.mu.RUnlock()
	if h != nil {
		return h
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if h = v.m[key]; h == nil {
		h = NewHistogram(v.bounds)
		v.m[key] = h
	}
	return h
}

// Each calls f for every member with its label values.
func (v *HistogramVec) Each(f func(labels []string, s Snapshot)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for k, h := range v.m {
		f(strings.Split(k, sep), h.Snapshot())
	}
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct {
	mu sync.RWMutex
	m  map[string]*atomic.Int64
}

// NewCounterVec makes an empty family.
func NewCounterVec() *CounterVec { return &CounterVec{m: map[string]*atomic.Int64{}} }

// Add adds n to the member for the label values.
func (v *CounterVec) Add(n int64, labels ...string) {
	key := strings.Join(labels, sep)
	v.mu.RLock()
	c := v.m[key]
	v.mu.RUnlock()
	if c == nil {
		v.mu.Lock()
		if c = v.m[key]; c == nil {
			c = new(atomic.Int64)
			v.m[key] = c
		}
		v.mu.Unlock()
	}
	c.Add(n)
}

// Each calls f for every member with its label values.
func (v *CounterVec) Each(f func(labels []string, n int64)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for k, c := range v.m {
		f(strings.Split(k, sep), c.Load())
	}
}

// HTTP are the HTTP layer's counters. Its label values are fixed words (route patterns, known
// methods, status classes, scheme and reason names), never anything a client sent.
type HTTP struct {
	// Requests by route, method and status class; Durations by route and method.
	Requests  *CounterVec
	Durations *HistogramVec
	// AuthFailures by scheme and reason.
	AuthFailures *CounterVec
	// StorageErrors by kind (no_space, io).
	StorageErrors *CounterVec
}

// NewHTTP makes empty HTTP counters.
func NewHTTP() *HTTP {
	return &HTTP{Requests: NewCounterVec(), Durations: NewHistogramVec(SecondBuckets),
		AuthFailures: NewCounterVec(), StorageErrors: NewCounterVec()}
}
