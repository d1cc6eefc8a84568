package hmacauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"
)

// Scheme names the kind of credential that authorized a request.
type Scheme string

// The credential schemes a Verifier understands.
const (
	// SchemeV1 is the ?v= MAC of mod_http_upload_external v1, ejabberd and prosody-filer.
	SchemeV1 Scheme = "v1"
	// SchemeV2 is the ?v2= (or ?token=) MAC of mod_http_upload_external v2.
	SchemeV2 Scheme = "v2"
	// SchemeV3 is hmac-file-server's expiring ?v3=&expires= MAC.
	SchemeV3 Scheme = "v3"
	// SchemeToken is the HS256 bearer JWT of Prosody's mod_http_file_share.
	SchemeToken Scheme = "token"
)

// Sentinel errors returned by Verify, possibly wrapped with context that never
// contains a secret or a full MAC. Callers branch on them with errors.Is; the
// comment of each names the HTTP status the server answers with.
var (
	// ErrNoCredential: no v, v2, v3 or token query parameter and no Bearer
	// Authorization header (403).
	ErrNoCredential = errors.New("hmacauth: no credential")
	// ErrBadSignature: a v1, v2 or v3 MAC is wrong or is not hex (403).
	ErrBadSignature = errors.New("hmacauth: bad signature")
	// ErrLengthRequired: a v1 or v2 MAC binds the length, but the request has
	// none (411).
	ErrLengthRequired = errors.New("hmacauth: length required")
	// ErrExpired: a valid v3 MAC whose expires is in the past beyond the clock
	// skew, or is not a number (403).
	ErrExpired = errors.New("hmacauth: expired")
	// ErrTokenInvalid: a Bearer token that is malformed, not HS256 or wrongly
	// signed (401 with WWW-Authenticate: Bearer).
	ErrTokenInvalid = errors.New("hmacauth: invalid token")
	// ErrTokenExpired: a valid token whose exp has passed (410).
	ErrTokenExpired = errors.New("hmacauth: token expired")
	// ErrSlotMismatch: a valid token for another slot than the path's first
	// segment (400).
	ErrSlotMismatch = errors.New("hmacauth: slot mismatch")
	// ErrSizeMismatch: a valid token whose filesize differs from the request's
	// Content-Length (413).
	ErrSizeMismatch = errors.New("hmacauth: size mismatch")
)

// reasons maps each sentinel to its stable label, in the order Reason tests them.
var reasons = []struct {
	err   error
	label string
}{
	{ErrNoCredential, "no_credential"},
	{ErrBadSignature, "bad_signature"},
	{ErrLengthRequired, "length_required"},
	{ErrExpired, "expired"},
	{ErrTokenInvalid, "token_invalid"},
	{ErrTokenExpired, "token_expired"},
	{ErrSlotMismatch, "slot_mismatch"},
	{ErrSizeMismatch, "size_mismatch"},
}

// Reason returns a short stable label for err, for metrics and logs:
// "no_credential", "bad_signature", "length_required", "expired",
// "token_invalid", "token_expired", "slot_mismatch" or "size_mismatch", and ""
// for nil or an error that wraps none of the sentinels.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return ""
}

// Options configures a Verifier.
type Options struct {
	// Secret is the current shared secret. An empty secret is never used:
	// with no non-empty secret every MAC and token fails to verify.
	Secret string
	// PreviousSecrets are still accepted after Secret, so that slots handed
	// out before a key rotation stay valid until they expire.
	PreviousSecrets []string
	// ClockSkew is the tolerance for v3 expires and token exp; 0 means exact
	// (to the second, as the reference servers compare).
	ClockSkew time.Duration
	// MaxTokenLifetime bounds how far in the future a bearer token's exp may lie (plus
	// ClockSkew); a token claiming a longer life is invalid. 0 means no bound.
	MaxTokenLifetime time.Duration
	// TypeByName returns the bare MIME type for a file name's extension, ""
	// if unknown. It supplies the last v2 content-type candidate. nil means
	// mime.TypeByExtension with parameters stripped.
	TypeByName func(name string) string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// String describes o without revealing any secret.
func (o Options) String() string {
	return fmt.Sprintf("hmacauth.Options{Secret: %s, PreviousSecrets: %d redacted, ClockSkew: %s}",
		redacted(o.Secret), len(o.PreviousSecrets), o.ClockSkew)
}

// GoString is like String, so that %#v does not reveal secrets either.
func (o Options) GoString() string { return o.String() }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Verifier checks upload credentials against a set of secrets. It is safe for
// concurrent use; build one with NewVerifier.
type Verifier struct {
	keys       [][]byte // Secret first, then PreviousSecrets; empty ones dropped
	skew       time.Duration
	maxLife    time.Duration
	typeByName func(string) string
	now        func() time.Time
}

// NewVerifier returns a Verifier for o. The secrets are copied.
func NewVerifier(o Options) *Verifier {
	v := &Verifier{skew: max(o.ClockSkew, 0), maxLife: max(o.MaxTokenLifetime, 0), typeByName: o.TypeByName, now: o.Now}
	for _, s := range append([]string{o.Secret}, o.PreviousSecrets...) {
		if s != "" {
			v.keys = append(v.keys, []byte(s))
		}
	}
	if v.typeByName == nil {
		v.typeByName = defaultTypeByName
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// String describes v without revealing any secret. It has a value receiver,
// unlike the other methods, so that printing a Verifier value (not only a
// pointer) is redacted too.
func (v Verifier) String() string {
	return fmt.Sprintf("hmacauth.Verifier{secrets: %d, skew: %s}", len(v.keys), v.skew)
}

// GoString is like String, so that %#v does not reveal secrets either.
func (v Verifier) GoString() string { return v.String() }

// defaultTypeByName is mime.TypeByExtension without parameters
// ("text/plain; charset=utf-8" -> "text/plain").
func defaultTypeByName(name string) string {
	return bareType(mime.TypeByExtension(path.Ext(name)))
}

// Request is what Verify needs from an HTTP request.
type Request struct {
	// Method is the request method, "PUT", "POST", "HEAD", ... (v3 signs it).
	Method string
	// URLPath is the full decoded URL path, as Go's r.URL.Path, e.g.
	// "/upload/a/b.bin" (v3 signs it).
	URLPath string
	// FilePath is the path after the upload prefix, percent-decoded once,
	// e.g. "a/b.bin" (v1, v2 and token use it); see FilePath.
	FilePath string
	// Query is the request's query.
	Query url.Values
	// Authorization is the Authorization header value, "" if absent.
	Authorization string
	// ContentLength is the size the MAC must cover: the body's length, or
	// for a HEAD or a Content-Range PUT the upload's total length; -1 when
	// unknown (a chunked body).
	ContentLength int64
	// ContentType is the Content-Type header as sent.
	ContentType string
	// HasContentType is false when the Content-Type header is absent.
	HasContentType bool
	// AnySlot skips the token's slot check for a request whose path names no slot (the
	// creation of a resumable upload, which takes its target from the token: Grant.Slot and
	// Grant.Filename).
	AnySlot bool
}

// Grant is what a valid credential authorizes.
type Grant struct {
	// Scheme is the credential that matched.
	Scheme Scheme
	// ContentType is, for v2, the type the matching MAC covered (the type to
	// store and serve) and, for token, the filetype claim; "" otherwise.
	ContentType string
	// Size is the size the credential binds: the request's ContentLength for
	// v1 and v2, the filesize claim for token (-1 if absent), -1 for v3.
	Size int64
	// FileExpires is when the file should be removed, as its signer states it:
	// the token's expires claim (mod_http_file_share's file lifetime); zero
	// otherwise.
	FileExpires time.Time
	// URLExpires is v3's expires parameter: until when the signed URL may
	// start an upload (or resume one). It is the URL's lifetime, never the
	// file's. Zero for the other schemes.
	URLExpires time.Time
	// Subject is the token's sub claim, the uploader's bare JID; "" otherwise.
	Subject string
	// Filename is the token's filename claim; "" otherwise.
	Filename string
	// Slot is the token's slot claim; "" otherwise.
	Slot string
}

// Verify checks the credential that req carries and returns what it
// authorizes, or an error wrapping one of the sentinel errors (and then a
// zero Grant).
//
// Query credentials take precedence over the Authorization header; among
// them the highest version wins (v3 > v2 > token > v1) and only that one is
// checked. Without any, a "Bearer" Authorization header is checked as a
// mod_http_file_share token; any other Authorization header counts as no
// credential at all.
func (v *Verifier) Verify(req Request) (Grant, error) {
	var (
		g   Grant
		err error
	)
	switch {
	case has(req.Query, "v3"):
		g, err = v.verifyV3(req)
	case has(req.Query, "v2"):
		g, err = v.verifyV2(req, req.Query.Get("v2"))
	case has(req.Query, "token"):
		g, err = v.verifyV2(req, req.Query.Get("token"))
	case has(req.Query, "v"):
		g, err = v.verifyV1(req)
	default:
		tok, ok := bearer(req.Authorization)
		if !ok {
			return Grant{}, ErrNoCredential
		}
		g, err = v.verifyToken(req, tok)
	}
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

func has(q url.Values, key string) bool {
	_, ok := q[key]
	return ok
}

// decodeMAC decodes a presented hex MAC, accepting either case. Only a
// SHA-256-sized value is accepted.
func decodeMAC(s string) ([]byte, bool) {
	if len(s) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// matchKey reports whether mac is the HMAC-SHA256 of msg under any key,
// comparing in constant time.
func (v *Verifier) matchKey(mac []byte, msg string) bool {
	ok := false
	for _, k := range v.keys {
		// No early exit, so the time taken does not reveal which key matched.
		if hmac.Equal(mac, sum(k, msg)) {
			ok = true
		}
	}
	return ok
}

func sum(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// pastDeadline reports whether now is more than skew past the Unix second
// deadline. Like Prosody (exp < os.time()) and hmac-file-server
// (now.Unix() > expires), it compares whole seconds: a credential is still
// valid during its deadline's second.
func pastDeadline(now time.Time, deadline int64, skew time.Duration) bool {
	n := now.Unix()
	if deadline >= n {
		return false
	}
	lag := n - deadline
	if lag < 0 || lag > int64(time.Duration(1<<63-1)/time.Second) {
		return true // overflow: the deadline is absurdly far in the past
	}
	return time.Duration(lag)*time.Second > skew
}

// bareType strips parameters from a media type: "text/plain; charset=utf-8"
// -> "text/plain".
func bareType(t string) string {
	t, _, _ = strings.Cut(t, ";")
	return strings.TrimSpace(t)
}

// Tag returns a value only the holder of the current secret can compute: the hex HMAC-SHA256
// of purpose, a NUL and msg. The purpose keeps tags for different uses (and every signature
// scheme, whose messages never start with a purpose and a NUL) apart. The server derives
// identifiers from it that must be unguessable yet found again from msg alone (the session of
// a PUT to a name). Without a secret it returns "".
func (v *Verifier) Tag(purpose, msg string) string {
	if len(v.keys) == 0 {
		return ""
	}
	return hex.EncodeToString(sum(v.keys[0], purpose+"\x00"+msg))
}

// PreviousTags are Tag under each of the previous secrets, in their order: what Tag gave
// before a rotation, so that what was derived then can still be found.
func (v *Verifier) PreviousTags(purpose, msg string) []string {
	var tags []string
	for _, k := range v.keys[min(1, len(v.keys)):] {
		tags = append(tags, hex.EncodeToString(sum(k, purpose+"\x00"+msg)))
	}
	return tags
}
