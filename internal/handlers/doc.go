// Package handlers is fileserver's HTTP surface: the chi router, one type per protocol over a
// shared core (core.go: configuration, authorization, the upload sessions, the engine, the
// store, links) — xep (XEP-0363 PUT and POST, Content-Range PUT), tus, ietf (the IETF
// resumable-upload draft), files (downloads), health — CORS and security headers, and the one
// place that maps failures to responses (errors.go).
//
// Handlers never write a byte of a body themselves: every upload and download goes through
// the StreamingEngine. They must never leak a filesystem path, a secret or a signature in a
// response or a log, and never answer an error with a 2xx or an HTML page.
package handlers
