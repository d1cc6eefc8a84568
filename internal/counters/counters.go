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

// family maps label values to members. Reads take no lock: the map is replaced, never
// changed, when a member is added (rare: label values are a small fixed set), so a lookup is
// one atomic load and a map access with a key built on the caller's stack.
type family[T any] struct {
	m   atomic.Pointer[map[string]*T]
	mu  sync.Mutex // serialises adding members
	new func() *T
}

func (f *family[T]) init(newMember func() *T) {
	f.new = newMember
	m := map[string]*T{}
	f.m.Store(&m)
}

// sep joins label values; it cannot occur in them (they are fixed words, never user input).
const sep = "\x00"

// get returns the member for the label values, creating it on first use.
func (f *family[T]) get(labels []string) *T {
	var buf [128]byte
	key := buf[:0]
	for i, l := range labels {
		if i > 0 {
			key = append(key, sep...)
		}
		key = append(key, l...)
	}
	if v := (*f.m.Load())[string(key)]; v != nil { // string(key) here does not allocate
		return v
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.m.Load()
	if v := old[string(key)]; v != nil {
		return v
	}
	m := make(map[string]*T, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	v := f.new()
	m[string(key)] = v
	f.m.Store(&m)
	return v
}

// each calls fn for every member with its label values.
func (f *family[T]) each(fn func(labels []string, v *T)) {
	for k, v := range *f.m.Load() {
		fn(strings.Split(k, sep), v)
	}
}

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct{ f family[Histogram] }

// NewHistogramVec makes a family whose members share bounds.
func NewHistogramVec(bounds []float64) *HistogramVec {
	v := &HistogramVec{}
	v.f.init(func() *Histogram { return NewHistogram(bounds) })
	return v
}

// With returns the member for the label values, creating it on first use.
func (v *HistogramVec) With(labels ...string) *Histogram { return v.f.get(labels) }

// Each calls f for every member with its label values.
func (v *HistogramVec) Each(f func(labels []string, s Snapshot)) {
	v.f.each(func(labels []string, h *Histogram) { f(labels, h.Snapshot()) })
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{ f family[atomic.Int64] }

// NewCounterVec makes an empty family.
func NewCounterVec() *CounterVec {
	v := &CounterVec{}
	v.f.init(func() *atomic.Int64 { return new(atomic.Int64) })
	return v
}

// Add adds n to the member for the label values.
func (v *CounterVec) Add(n int64, labels ...string) { v.f.get(labels).Add(n) }

// Each calls f for every member with its label values.
func (v *CounterVec) Each(f func(labels []string, n int64)) {
	v.f.each(func(labels []string, c *atomic.Int64) { f(labels, c.Load()) })
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
