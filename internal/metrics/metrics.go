package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fileserver/internal/streaming"
)

const namespace = "fileserver"

// Handler returns the /metrics handler: Go and process collectors plus the engine's counters,
// on a registry of its own (so tests can build as many servers as they like).
func Handler(engine *streaming.Engine) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&engineCollector{engine: engine},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

var (
	transfersDesc = prometheus.NewDesc(namespace+"_transfers_total",
		"Transfers finished, by protocol, direction and result.",
		[]string{"protocol", "direction", "result"}, nil)
	bytesDesc = prometheus.NewDesc(namespace+"_transfer_bytes_total",
		"Bytes moved by finished transfers, by protocol and direction.",
		[]string{"protocol", "direction"}, nil)
	secondsDesc = prometheus.NewDesc(namespace+"_transfer_seconds_total",
		"Time spent in finished transfers, by protocol and direction.",
		[]string{"protocol", "direction"}, nil)
	inFlightDesc = prometheus.NewDesc(namespace+"_transfers_in_flight",
		"Transfers running now, by direction.", []string{"direction"}, nil)
	poolDesc = prometheus.NewDesc(namespace+"_buffer_pool_in_use_bytes",
		"Bytes of transfer buffers lent out now.", nil, nil)
)

// engineCollector reads the engine's counters at scrape time.
type engineCollector struct{ engine *streaming.Engine }

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{transfersDesc, bytesDesc, secondsDesc, inFlightDesc, poolDesc} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	type pd struct{ proto, dir string }
	bytes := map[pd]float64{}
	secs := map[pd]float64{}
	for k, v := range c.engine.Stats().Transfers() {
		ch <- prometheus.MustNewConstMetric(transfersDesc, prometheus.CounterValue, float64(v.Count),
			k.Protocol, string(k.Direction), k.Result)
		key := pd{k.Protocol, string(k.Direction)}
		bytes[key] += float64(v.Bytes)
		secs[key] += v.Seconds
	}
	for k, v := range bytes {
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, v, k.proto, k.dir)
		ch <- prometheus.MustNewConstMetric(secondsDesc, prometheus.CounterValue, secs[k], k.proto, k.dir)
	}
	for _, d := range []streaming.Direction{streaming.Upload, streaming.Download} {
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue,
			float64(c.engine.Stats().InFlight(d)), string(d))
	}
	ch <- prometheus.MustNewConstMetric(poolDesc, prometheus.GaugeValue, float64(c.engine.Pool().InUse()))
}
