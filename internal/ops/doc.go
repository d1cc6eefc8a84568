// Package ops is the operator's side of the server that the upload and download paths feed:
// takedowns (names blocked from being uploaded again, checked on every node), download
// counts (added in memory, written out in batches), the event stream the admin dashboard
// follows, and the audit log. Everything is nil-safe: a server without an admin listener
// passes a nil *Ops and pays nothing.
package ops
