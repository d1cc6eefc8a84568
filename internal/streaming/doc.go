// Package streaming is the StreamingEngine: the one path every uploaded or downloaded byte
// takes. It lends each transfer a buffer from the adaptivebuf pool, sized from what it has
// measured of the client (throughput, stalls, RTT from the kernel, completion), enforces size
// limits on the streamed body and per-read idle timeouts, recommends chunk sizes to resumable
// clients, and counts what moved.
//
// It must never buffer a whole body in memory, never hold more buffer memory than the
// pool's budget, never hold one buffer while waiting for another (that is how budgets
// deadlock), never defeat the kernel's sendfile path for local files, and never import
// handlers or Prometheus.
package streaming
