// Package metrics adapts the counters that the core keeps (the StreamingEngine's transfers
// and buffer pool) to Prometheus, under the fileserver_ namespace.
//
// It only reads: nothing in the core imports this package or Prometheus.
package metrics
