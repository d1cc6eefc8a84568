package metrics

import (
	"net/http"
	"strconv"

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
	poolHeldDesc = prometheus.NewDesc(namespace+"_buffer_pool_held_bytes",
		"Bytes of transfer buffers lent out or kept for reuse (never above the budget).", nil, nil)
	poolBudgetDesc = prometheus.NewDesc(namespace+"_buffer_pool_budget_bytes",
		"The buffer pool's memory budget.", nil, nil)
	poolWaitingDesc = prometheus.NewDesc(namespace+"_buffer_pool_waiting",
		"Transfers waiting for a buffer now.", nil, nil)
	poolWaitsDesc = prometheus.NewDesc(namespace+"_buffer_pool_waits_total",
		"Transfers that had to wait for a buffer.", nil, nil)
	poolWaitSecondsDesc = prometheus.NewDesc(namespace+"_buffer_pool_wait_seconds_total",
		"Time transfers spent waiting for a buffer.", nil, nil)
	poolDowngradesDesc = prometheus.NewDesc(namespace+"_buffer_pool_downgrades_total",
		"Buffers lent smaller than asked because of the budget.", nil, nil)
	poolRefusalsDesc = prometheus.NewDesc(namespace+"_buffer_pool_refusals_total",
		"Transfers refused a buffer at once (on_budget_exhausted = refuse).", nil, nil)
	bufferSizeDesc = prometheus.NewDesc(namespace+"_buffer_size_chosen_total",
		"Finished transfers by the buffer size the engine ended with.", []string{"size_bytes"}, nil)
	bufferResizesDesc = prometheus.NewDesc(namespace+"_buffer_resizes_total",
		"Buffer size changes in the middle of transfers.", nil, nil)
	stallsDesc = prometheus.NewDesc(namespace+"_transfer_stalls_total",
		"Reads or writes slower than the stall threshold.", nil, nil)
	chunkSizeDesc = prometheus.NewDesc(namespace+"_chunk_size_recommended_total",
		"Chunk sizes recommended to resumable clients, by size rounded down to a power of two.",
		[]string{"size_bytes"}, nil)
	profilesDesc = prometheus.NewDesc(namespace+"_client_profiles",
		"Client profiles the engine remembers.", nil, nil)
)

// engineCollector reads the engine's counters at scrape time.
type engineCollector struct{ engine *streaming.Engine }

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{transfersDesc, bytesDesc, secondsDesc, inFlightDesc, poolDesc,
		poolHeldDesc, poolBudgetDesc, poolWaitingDesc, poolWaitsDesc, poolWaitSecondsDesc, poolDowngradesDesc,
		poolRefusalsDesc, bufferSizeDesc, bufferResizesDesc, stallsDesc, chunkSizeDesc, profilesDesc} {
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
	ps := c.engine.Pool().Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(poolDesc, float64(ps.InUse))
	gauge(poolHeldDesc, float64(ps.Held))
	gauge(poolBudgetDesc, float64(ps.Budget))
	gauge(poolWaitingDesc, float64(ps.Waiting))
	counter(poolWaitsDesc, float64(ps.Waits))
	counter(poolWaitSecondsDesc, ps.WaitTime.Seconds())
	counter(poolDowngradesDesc, float64(ps.Downgrades))
	counter(poolRefusalsDesc, float64(ps.Refusals))
	for size, n := range c.engine.Stats().BufferSizes() {
		counter(bufferSizeDesc, float64(n), strconv.Itoa(size))
	}
	for size, n := range c.engine.Stats().ChunkSizes() {
		counter(chunkSizeDesc, float64(n), strconv.FormatInt(size, 10))
	}
	resizes, stalls := c.engine.Stats().Resizes()
	counter(bufferResizesDesc, float64(resizes))
	counter(stallsDesc, float64(stalls))
	gauge(profilesDesc, float64(c.engine.Profiles()))
}
