// Package client is fileserver's own resumable client: it uploads a file over tus 1.0 or the
// IETF resumable-upload draft and downloads with Range, surviving dropped connections and
// server restarts by asking the server where it stands and continuing from there.
//
// It must never send a byte twice into a completed upload, never report success without
// checking the server's digest when the server gives one, and never import server packages.
package client
