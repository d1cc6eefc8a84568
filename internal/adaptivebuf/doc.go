// Package adaptivebuf lends transfer buffers in power-of-two size classes (16 KiB to 4 MiB)
// under one global byte budget. A borrower asks for a size; under pressure it gets a smaller
// class (Downgrade), waits in FIFO order until a buffer is released (Wait), or is refused at
// once (Refuse), as the pool's policy says. Released buffers are kept for reuse and count
// against the budget until they are dropped to make room for another class.
//
// It must never account more bytes than the budget (lent plus kept), never hand one buffer to
// two holders, never wake more than the one waiter a release can serve, and never lose a
// wake-up. It knows nothing of HTTP, storage or the rest of the server.
package adaptivebuf
