// Package hmacauth verifies, and for the CLI and tests also creates, the
// credentials that authorize an upload to the file server.
//
// It understands every signature scheme of the XMPP (XEP-0363) upload
// ecosystem that the server is compatible with:
//
//   - v1 (?v=): Prosody mod_http_upload_external v1, ejabberd mod_http_upload
//     external_secret and prosody-filer: HMAC-SHA256 over
//     "file_path SP Content-Length".
//   - v2 (?v2=, and ?token= as prosody-filer accepts it): Prosody
//     mod_http_upload_external v2: HMAC-SHA256 over
//     "file_path NUL Content-Length NUL Content-Type".
//   - v3 (?v3=&expires=): hmac-file-server's expiring URLs: HMAC-SHA256 over
//     "METHOD LF expires LF url_path".
//   - token (Authorization: Bearer <JWT>): Prosody 0.12 mod_http_file_share in
//     external mode, an HS256 JWT carrying the slot's properties.
//
// A [Verifier] checks a [Request] against the configured secret and any
// previous secrets (key rotation) and returns a [Grant] describing what the
// credential authorizes, or one of the sentinel errors, which callers map to
// an HTTP status with errors.Is (see [Reason] for metric labels).
//
// This package must never log, return or format a secret or a full MAC: its
// errors carry only fixed context, and [Verifier] and [Options] print with
// their secrets redacted. It depends on the standard library only and must
// never import another package of the project; the handlers depend on it, not
// the other way round.
package hmacauth
