package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"fileserver/internal/counters"
	"fileserver/internal/streaming"
)

var (
	transfersDesc = desc("transfers_total",
		"Transfers finished, by protocol (v1, v2, v3, token, post, tus, ietf, range-put, get), direction and result.",
		"protocol", "direction", "result")
	transferBytesDesc = desc("transfer_bytes_total",
		"Bytes moved by finished transfers: received for uploads, sent for downloads.", "protocol", "direction")
	transferDurationDesc = desc("transfer_duration_seconds",
		"Duration of finished transfers.", "protocol", "direction")
	transferSizeDesc = desc("transfer_size_bytes", "Bytes per finished transfer.", "protocol", "direction")
	inFlightDesc     = desc("transfers_in_flight", "Transfers running now.", "direction")
	ttfbDesc         = desc("download_ttfb_seconds", "Time from a download's start to its response header.", "protocol")

	poolInUseDesc       = desc("buffer_pool_in_use_bytes", "Bytes of transfer buffers lent out now.")
	poolHeldDesc        = desc("buffer_pool_held_bytes", "Bytes of transfer buffers lent out or kept for reuse.")
	poolBudgetDesc      = desc("buffer_pool_budget_bytes", "The buffer pool's memory budget.")
	poolWaitingDesc     = desc("buffer_pool_waiting", "Transfers waiting for a buffer now.")
	poolWaitsDesc       = desc("buffer_pool_waits_total", "Buffer requests that had to wait.")
	poolWaitSecondsDesc = desc("buffer_pool_wait_seconds_total", "Time spent waiting for buffers.")
	poolDowngradesDesc  = desc("buffer_pool_downgrades_total", "Buffers lent smaller than asked, for lack of budget.")
	poolRefusalsDesc    = desc("buffer_pool_refusals_total", "Buffer requests refused for lack of budget (503).")

	bufferSizeDesc    = desc("buffer_size_bytes", "Buffer size the engine chose, per finished transfer.")
	bufferResizesDesc = desc("buffer_resizes_total", "Buffer size changes in the middle of transfers.")
	stallsDesc        = desc("transfer_stalls_total", "Reads or writes slower than the stall threshold.")
	chunkSizeDesc     = desc("chunk_size_recommended_bytes", "Chunk sizes recommended to resumable clients.")

	profilesDesc    = desc("client_profiles", "Clients the engine keeps a profile of.")
	clientRateDesc  = desc("client_throughput_bytes_per_second", "Measured throughput across client profiles.")
	clientRTTDesc   = desc("client_rtt_seconds", "Measured round-trip time across client profiles.")
	clientReliaDesc = desc("client_reliability_ratio", "Share of transfers completed, across client profiles.")
)

var (
	rateBuckets  = []float64{16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30}
	rttBuckets   = []float64{0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}
	ratioBuckets = []float64{0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1}
)

// engineCollector reads the StreamingEngine's counters at scrape time.
type engineCollector struct{ engine *streaming.Engine }

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, transfersDesc, transferBytesDesc, transferDurationDesc, transferSizeDesc, inFlightDesc,
		ttfbDesc, poolInUseDesc, poolHeldDesc, poolBudgetDesc, poolWaitingDesc, poolWaitsDesc,
		poolWaitSecondsDesc, poolDowngradesDesc, poolRefusalsDesc, bufferSizeDesc, bufferResizesDesc,
		stallsDesc, chunkSizeDesc, profilesDesc, clientRateDesc, clientRTTDesc, clientReliaDesc)
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	st := c.engine.Stats()
	type pd struct{ proto, dir string }
	bytes := map[pd]float64{}
	for k, v := range st.Transfers() {
		e.counter(transfersDesc, float64(v.Count), k.Protocol, string(k.Direction), k.Result)
		bytes[pd{k.Protocol, string(k.Direction)}] += float64(v.Bytes)
	}
	for k, v := range bytes {
		e.counter(transferBytesDesc, v, k.proto, k.dir)
	}
	st.Durations.Each(func(l []string, s counters.Snapshot) { e.histogram(transferDurationDesc, s, l...) })
	st.Sizes.Each(func(l []string, s counters.Snapshot) { e.histogram(transferSizeDesc, s, l...) })
	st.TTFB.Each(func(l []string, s counters.Snapshot) { e.histogram(ttfbDesc, s, l...) })
	for _, d := range []streaming.Direction{streaming.Upload, streaming.Download} {
		e.gauge(inFlightDesc, float64(st.InFlight(d)), string(d))
	}

	ps := c.engine.Pool().Stats()
	e.gauge(poolInUseDesc, float64(ps.InUse))
	e.gauge(poolHeldDesc, float64(ps.Held))
	e.gauge(poolBudgetDesc, float64(ps.Budget))
	e.gauge(poolWaitingDesc, float64(ps.Waiting))
	e.counter(poolWaitsDesc, float64(ps.Waits))
	e.counter(poolWaitSecondsDesc, ps.WaitTime.Seconds())
	e.counter(poolDowngradesDesc, float64(ps.Downgrades))
	e.counter(poolRefusalsDesc, float64(ps.Refusals))

	e.histogram(bufferSizeDesc, fromValues(st.BufferSizes(), counters.ByteBuckets))
	e.histogram(chunkSizeDesc, fromValues(st.ChunkSizes(), counters.ByteBuckets))
	resizes, stalls := st.Resizes()
	e.counter(bufferResizesDesc, float64(resizes))
	e.counter(stallsDesc, float64(stalls))

	profiles := c.engine.AllProfiles()
	e.gauge(profilesDesc, float64(len(profiles)))
	rate, rtt, rel := counters.NewHistogram(rateBuckets), counters.NewHistogram(rttBuckets), counters.NewHistogram(ratioBuckets)
	for _, p := range profiles {
		if p.Throughput > 0 {
			rate.Observe(p.Throughput)
		}
		if p.RTT > 0 {
			rtt.Observe(p.RTT.Seconds())
		}
		rel.Observe(p.Reliability)
	}
	e.histogram(clientRateDesc, rate.Snapshot())
	e.histogram(clientRTTDesc, rtt.Snapshot())
	e.histogram(clientReliaDesc, rel.Snapshot())
}
