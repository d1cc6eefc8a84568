// Package streaming is the StreamingEngine: the one path every uploaded or downloaded byte
// takes. It lends each transfer a buffer from the pool, enforces size limits on the streamed
// body and per-read idle timeouts, and counts what moved.
//
// It must never buffer a whole body in memory, never defeat the kernel's sendfile path for
// local files, and never import handlers or Prometheus.
package streaming
