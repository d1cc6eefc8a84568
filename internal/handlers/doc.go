// Package handlers is fileserver's HTTP surface: the chi router, one file per protocol (PUT
// for XEP-0363, POST, downloads, health), CORS and security headers, and the one place that
// maps failures to status codes.
//
// Handlers never write a byte of a body themselves: every upload and download goes through
// the StreamingEngine. They must never leak a filesystem path, a secret or a signature in a
// response or a log, and never answer an error with a 2xx or an HTML page.
package handlers
