// Package redisstore keeps upload sessions and their locks in Redis, so several fileserver
// nodes can serve the same uploads: a client whose connection broke may resume on any node,
// and the request it left behind on another node is cut off at once.
//
// It implements chunking.SessionStore (one JSON value per session, written only under the
// session's current lease: fencing) and chunking.Locker (a lease per session, renewed while
// held, with cancel and release messages over Redis pub/sub for a quick hand-off). Expired
// leases free the sessions of a node that died.
//
// It must never write a session under a lease that is no longer the current one, never
// release a lock it does not hold, and never keep a request waiting on a holder that can no
// longer answer: a lost message costs at most a poll interval, a dead node at most a lease.
//
// Redis must be a single primary (or a replicated one used through its primary): the lock
// and fence scripts touch several keys at once, which Redis Cluster would refuse. A session
// is as durable as Redis is configured to make it (appendonly with fsync for a crash of the
// Redis host).
package redisstore
