// Package adaptivebuf hands out transfer buffers from a pool, so that steady traffic does not
// allocate and the memory held by buffers is known.
//
// It must never hand the same buffer to two holders at once, and it knows nothing of HTTP,
// storage or the rest of the server.
package adaptivebuf
