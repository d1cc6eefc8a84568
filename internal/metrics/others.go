package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fileserver/internal/chunking"
	"fileserver/internal/counters"
	"fileserver/internal/scan"
)

var (
	requestsDesc = desc("http_requests_total", "HTTP requests, by route pattern, method and status class.",
		"route", "method", "code")
	requestDurationDesc = desc("http_request_duration_seconds", "HTTP request duration, by route pattern and method.",
		"route", "method")
	authFailuresDesc  = desc("auth_failures_total", "Refused credentials, by scheme and reason.", "scheme", "reason")
	storageErrorsDesc = desc("storage_errors_total", "Storage failures, by kind (no_space, io).", "kind")

	sessionsActiveDesc    = desc("sessions_active", "Resumable uploads neither complete nor expired (with sessions in Redis: of every node).")
	sessionsCreatedDesc   = desc("sessions_created_total", "Resumable uploads created.")
	sessionsCompletedDesc = desc("sessions_completed_total", "Resumable uploads completed and committed.")
	sessionsExpiredDesc   = desc("sessions_expired_total", "Unfinished resumable uploads removed on expiry.")
	sessionsResumedDesc   = desc("sessions_resumed_total", "Appends that continued an upload from a non-zero offset.")
	offsetConflictsDesc   = desc("session_offset_conflicts_total", "Appends refused because their offset was not the upload's.")
	handoffsDesc          = desc("session_handoffs_total", "Uploads taken over from a stale request by a new one.")
	busyDesc              = desc("session_busy_total", "Requests refused (409) because another request was still sending the upload.")
	handoffSecondsDesc    = desc("session_handoff_seconds", "Time for a new request to take an upload over from a stale one.")
	checkpointsDesc       = desc("session_checkpoints_total", "Offsets of uploads streaming in made durable and recorded before their request ended.")

	storedFilesDesc = desc("stored_files", "Files stored.")
	storedBytesDesc = desc("stored_bytes", "Bytes in stored files.")
	diskFreeDesc    = desc("storage_free_bytes", "Free bytes on the filesystem of the data directory.")
	diskSizeDesc    = desc("storage_capacity_bytes", "Size of the filesystem of the data directory.")
	dedupFilesDesc  = desc("dedup_files_total", "Uploads stored as a link to the same bytes already stored (storage.dedup).")
	dedupBytesDesc  = desc("dedup_saved_bytes_total", "Bytes deduplication did not store again (storage.dedup).")
)

type httpCollector struct{ stats *counters.HTTP }

func (c *httpCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, requestsDesc, requestDurationDesc, authFailuresDesc, storageErrorsDesc)
}

func (c *httpCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	c.stats.Requests.Each(func(l []string, n int64) { e.counter(requestsDesc, float64(n), l...) })
	c.stats.Durations.Each(func(l []string, s counters.Snapshot) { e.histogram(requestDurationDesc, s, l...) })
	c.stats.AuthFailures.Each(func(l []string, n int64) { e.counter(authFailuresDesc, float64(n), l...) })
	c.stats.StorageErrors.Each(func(l []string, n int64) { e.counter(storageErrorsDesc, float64(n), l...) })
}

// sessionCollector exports resumable-upload counters. Counting active uploads reads every
// session's state, so the count is cached for a few seconds.
type sessionCollector struct {
	uploads *chunking.Uploads
	mu      sync.Mutex
	active  int
	counted time.Time
}

const activeCacheTime = 10 * time.Second

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, sessionsActiveDesc, sessionsCreatedDesc, sessionsCompletedDesc, sessionsExpiredDesc,
		sessionsResumedDesc, offsetConflictsDesc, handoffsDesc, busyDesc, handoffSecondsDesc, checkpointsDesc)
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	c.mu.Lock()
	if time.Since(c.counted) > activeCacheTime {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if n, err := c.uploads.Active(ctx); err == nil {
			c.active, c.counted = n, time.Now()
		}
		cancel()
	}
	active := c.active
	c.mu.Unlock()
	s := c.uploads.Snapshot()
	e.gauge(sessionsActiveDesc, float64(active))
	e.counter(sessionsCreatedDesc, float64(s.Created))
	e.counter(sessionsCompletedDesc, float64(s.Completed))
	e.counter(sessionsExpiredDesc, float64(s.Expired))
	e.counter(sessionsResumedDesc, float64(s.Resumed))
	e.counter(offsetConflictsDesc, float64(s.OffsetConflicts))
	e.counter(handoffsDesc, float64(s.Handoffs))
	e.counter(busyDesc, float64(s.Busy))
	e.counter(checkpointsDesc, float64(s.Checkpoints))
	e.histogram(handoffSecondsDesc, c.uploads.HandoffTimes())
}

type storeCollector struct{ store Store }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, storedFilesDesc, storedBytesDesc, diskFreeDesc, diskSizeDesc, dedupFilesDesc, dedupBytesDesc)
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	files, bytes := c.store.Usage()
	e.gauge(storedFilesDesc, float64(files))
	e.gauge(storedBytesDesc, float64(bytes))
	dfiles, dbytes := c.store.Deduplicated()
	e.counter(dedupFilesDesc, float64(dfiles))
	e.counter(dedupBytesDesc, float64(dbytes))
	if free, total, err := c.store.DiskSpace(); err == nil {
		e.gauge(diskFreeDesc, float64(free))
		e.gauge(diskSizeDesc, float64(total))
	}
}

var scansDesc = desc("scans_total", "Malware scans of uploads by verdict: clean, infected, skipped (too large), unavailable (clamd could not be asked).", "verdict")

type scanCollector struct{ s *scan.Scanner }

func (c *scanCollector) Describe(ch chan<- *prometheus.Desc) { ch <- scansDesc }

func (c *scanCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range []struct {
		label string
		n     int64
	}{
		{scan.Clean, c.s.Counts.Clean.Load()}, {scan.Infected, c.s.Counts.Infected.Load()},
		{scan.Skipped, c.s.Counts.Skipped.Load()}, {scan.Unavailable, c.s.Counts.Unavailable.Load()},
	} {
		ch <- prometheus.MustNewConstMetric(scansDesc, prometheus.CounterValue, float64(v.n), v.label)
	}
}
