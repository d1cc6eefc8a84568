// Package chunking keeps resumable upload sessions: an upload that arrives in pieces, tracked
// by byte offset, behind every resumable protocol the server speaks (tus 1.0, the IETF
// resumable-upload draft, Content-Range PUT).
//
// Its promises: an offset it reports is durable (the bytes were synced before the state that
// records them); after a crash the recovered offset never exceeds the bytes on disk and never
// goes back from an acknowledged one; one writer per session, a new request cutting a stale
// one off at once; a complete upload is committed exactly once, atomically. It must never
// expose partial data as a file, and never import HTTP handlers or the streaming engine: the
// caller hands it a function that moves the body.
package chunking
