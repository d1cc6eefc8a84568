// Package counters holds the few lock-free counting types the core packages keep their
// statistics in (histograms and labelled counters), so that they need not import Prometheus.
// internal/metrics reads them at scrape time.
//
// It must never import anything of the project, and never block the hot path on a lock held
// across an observation.
package counters
