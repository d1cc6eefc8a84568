package metrics

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fileserver/internal/chunking"
	"fileserver/internal/counters"
	"fileserver/internal/scan"
	"fileserver/internal/streaming"
)

const namespace = "fileserver"

// Sources are the components whose counters are exported; nil ones are left out.
type Sources struct {
	Engine  *streaming.Engine
	HTTP    *counters.HTTP
	Uploads *chunking.Uploads
	Store   Store
	// Scanner is the malware scanner; nil when scanning is off.
	Scanner *scan.Scanner
}

// Store is what the metrics read of storage: usage and the filesystem's space.
type Store interface {
	Usage() (files, bytes int64)
	Deduplicated() (files, bytes int64)
	DiskSpace() (free, total int64, err error)
}

// Handler returns the /metrics handler: Go and process collectors plus the core's counters,
// on a registry of its own (so tests can build as many servers as they like).
func Handler(src Sources) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if src.Engine != nil {
		reg.MustRegister(&engineCollector{engine: src.Engine})
	}
	if src.HTTP != nil {
		reg.MustRegister(&httpCollector{stats: src.HTTP})
	}
	if src.Uploads != nil {
		reg.MustRegister(&sessionCollector{uploads: src.Uploads})
	}
	if src.Scanner != nil {
		reg.MustRegister(&scanCollector{s: src.Scanner})
	}
	if src.Store != nil {
		reg.MustRegister(&storeCollector{store: src.Store})
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// emit sends one metric; collectors use it so each Collect reads as a list.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e emitter) histogram(d *prometheus.Desc, s counters.Snapshot, labels ...string) {
	e.ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum, s.Buckets, labels...)
}

// fromValues turns counts of exact values into a histogram over bounds.
func fromValues[K int | int64](values map[K]int64, bounds []float64) counters.Snapshot {
	h := counters.NewHistogram(bounds)
	keys := make([]K, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		for range values[k] {
			h.Observe(float64(k))
		}
	}
	return h.Snapshot()
}

func describeAll(ch chan<- *prometheus.Desc, ds ...*prometheus.Desc) {
	for _, d := range ds {
		ch <- d
	}
}
