package hmacauth

// Bearer tokens of Prosody 0.12 mod_http_file_share in external mode.
//
// What Prosody does (util/jwt.lua, mod_http_file_share.lua of 0.12.3, read
// from the Debian package):
//   - The header is always the constant {"alg":"HS256","typ":"JWT"}; verify
//     decodes it, requires alg == "HS256" (typ is ignored), then compares
//     the base64url of HMAC-SHA256(secret, header_b64 "." payload_b64).
//   - base64url without padding; its verify pattern only admits
//     [A-Za-z0-9-_], so padded parts are refused by Prosody itself. We
//     also accept trailing '=' padding, with the MAC over the text as sent
//     or over its unpadded form.
//   - Claims: sub (bare JID of the uploader), iat (os.time()), exp (iat +
//     300), slot (the upload archive's id), expires (iat +
//     http_file_share_expires_after, omitted when that is negative),
//     filename, filesize (number), filetype (the slot request's
//     content-type, "application/octet-stream" if it had none). JSON is
//     util.json: key order is Lua's hash order (unspecified), numbers are
//     tostring() (integers as such), "/" and non-ASCII are not escaped.
//   - The PUT URL is base_url "/" slot "/" filename, each segment
//     percent-encoded by socket.url (upper-case hex, '+' kept); so FilePath
//     is "slot/filename" and the slot is its first segment.
//   - handle_upload: "^Bearer (.*)" (case-sensitive, one space) else 401;
//     verify failure, or exp not a number, 401; exp < os.time() 410; slot ~=
//     path:match("^[^/]+") 400; Content-Length present and ~= filesize 413.
//
// Where we differ: the scheme word is case-insensitive and the value
// trimmed; ClockSkew extends exp; a claim of the wrong JSON type (other than
// exp, which Prosody also requires to be a number) is 401 here, where Prosody
// would carry on (a non-string slot would then be 400, a non-number filesize
// 413); numbers must be integral (a float like 1e+15 or 1000.0 is accepted if
// it has no fraction). The filename claim is returned, not compared with the
// URL: Prosody does not compare it either.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxTokenLen bounds the bearer tokens we decode; Prosody's are ~400 bytes.
const maxTokenLen = 16 << 10

// tokenClaims are the claims of a verified token plus which optional ones
// were present.
type tokenClaims struct {
	Claims
	hasSlot     bool
	hasFilesize bool
}

// bearer returns the token of an "Authorization: Bearer <token>" header
// value and whether the scheme is Bearer at all (case-insensitive; the
// value is trimmed, so a padded header from a client such as Dino works).
func bearer(h string) (string, bool) {
	h = strings.TrimSpace(h)
	scheme, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		scheme, rest = h[:i], h[i+1:]
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// verifyToken checks a mod_http_file_share bearer token, in Prosody's order:
// validity (401), then exp (410), slot (400) and filesize (413).
func (v *Verifier) verifyToken(req Request, tok string) (Grant, error) {
	c, err := v.parseToken(tok)
	if err != nil {
		return Grant{}, err
	}
	if pastDeadline(v.now(), c.Exp, v.skew) {
		return Grant{}, fmt.Errorf("token: exp has passed: %w", ErrTokenExpired)
	}
	if v.maxLife > 0 && tooFarAhead(v.now(), c.Exp, v.maxLife+v.skew) {
		// A signer that hands out tokens valid for years (or an attacker replaying one that
		// leaked) gets no lasting upload right from it.
		return Grant{}, fmt.Errorf("token: exp lies further ahead than the longest lifetime allowed: %w", ErrTokenInvalid)
	}
	first, _, _ := strings.Cut(req.FilePath, "/")
	if !c.hasSlot || !req.AnySlot && (first == "" || c.Slot != first) {
		return Grant{}, fmt.Errorf("token: slot is not the path's first segment: %w", ErrSlotMismatch)
	}
	size := int64(-1)
	if c.hasFilesize {
		size = c.Filesize
	}
	if req.ContentLength >= 0 && (!c.hasFilesize || c.Filesize != req.ContentLength) {
		return Grant{}, fmt.Errorf("token: Content-Length is not filesize: %w", ErrSizeMismatch)
	}
	g := Grant{
		Scheme:      SchemeToken,
		ContentType: c.Filetype,
		Size:        size,
		Subject:     c.Sub,
		Filename:    c.Filename,
		Slot:        c.Slot,
	}
	if c.Expires != 0 {
		g.FileExpires = time.Unix(c.Expires, 0)
	}
	return g, nil
}

// tooFarAhead reports whether the Unix second deadline lies more than limit after now.
func tooFarAhead(now time.Time, deadline int64, limit time.Duration) bool {
	ahead := deadline - now.Unix()
	return ahead > 0 && ahead > int64(limit/time.Second)
}

// parseToken decodes a compact HS256 JWS and verifies its signature under
// any key. Every error wraps ErrTokenInvalid.
func (v *Verifier) parseToken(tok string) (tokenClaims, error) {
	parts, raw, err := decodeCompact(tok)
	if err != nil {
		return tokenClaims{}, err
	}
	// The signature is verified before the payload is parsed: the claims of
	// a token nobody signed are never read.
	if err := v.checkSigned(parts, raw); err != nil {
		return tokenClaims{}, err
	}
	return parseClaims(raw[1])
}

// invalidToken is the error of a token refused for the reason what; it
// wraps ErrTokenInvalid, which callers answer with 401 as Prosody does.
func invalidToken(what string) error {
	return fmt.Errorf("token: %s: %w", what, ErrTokenInvalid)
}

// decodeCompact decides whether tok is a compact JWS we decode at all:
// present, at most maxTokenLen long, three dot-separated parts, each
// base64url (the signature strictly). It returns the parts as sent, which
// the signature covers, and decoded.
func decodeCompact(tok string) (parts []string, raw [3][]byte, err error) {
	if tok == "" {
		return nil, raw, invalidToken("missing")
	}
	if len(tok) > maxTokenLen {
		return nil, raw, invalidToken("too long")
	}
	parts = strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, raw, invalidToken("not a compact JWS")
	}
	for i, p := range parts {
		b, ok := unb64url(p, i == 2)
		if !ok {
			return nil, raw, invalidToken("bad base64url")
		}
		raw[i] = b
	}
	return parts, raw, nil
}

// checkSigned decides whether a decoded token is authentic: its header is a
// JSON object naming alg HS256, and its signature is the HMAC-SHA256 of the
// header and payload as sent under one of v's keys.
func (v *Verifier) checkSigned(parts []string, raw [3][]byte) error {
	header, ok := jsonObject(raw[0])
	if !ok {
		return invalidToken("header is not a JSON object")
	}
	if alg, ok := jsonString(header["alg"]); !ok || alg != "HS256" {
		return invalidToken("alg is not HS256")
	}
	if len(raw[2]) != sha256.Size || !v.matchSigned(raw[2], parts[0], parts[1]) {
		return invalidToken("signature does not match")
	}
	return nil
}

// parseClaims decides whether the payload of an authentic token is a JSON
// object whose claims have the types Prosody gives them, and returns them.
func parseClaims(raw []byte) (tokenClaims, error) {
	payload, ok := jsonObject(raw)
	if !ok {
		return tokenClaims{}, invalidToken("payload is not a JSON object")
	}
	var c tokenClaims
	if err := c.numberClaims(payload); err != nil {
		return tokenClaims{}, err
	}
	if err := c.stringClaims(payload); err != nil {
		return tokenClaims{}, err
	}
	return c, nil
}

// numberClaims decides whether payload's numeric claims are integral
// numbers, exp being required (Prosody refuses a token without one) and the
// others optional, and sets them on c.
func (c *tokenClaims) numberClaims(payload map[string]json.RawMessage) error {
	var present, ok bool
	if c.Exp, present, ok = jsonInt(payload["exp"]); !ok || !present {
		return invalidToken("exp is not a number")
	}
	if c.Iat, _, ok = jsonInt(payload["iat"]); !ok {
		return invalidToken("iat is not a number")
	}
	if c.Expires, _, ok = jsonInt(payload["expires"]); !ok {
		return invalidToken("expires is not a number")
	}
	if c.Filesize, c.hasFilesize, ok = jsonInt(payload["filesize"]); !ok {
		return invalidToken("filesize is not a number")
	}
	return nil
}

// stringClaims decides whether payload's string claims, each optional, are
// strings when present, and sets them on c (noting whether slot was there).
func (c *tokenClaims) stringClaims(payload map[string]json.RawMessage) error {
	for _, s := range []struct {
		name    string
		dst     *string
		present *bool
	}{
		{"sub", &c.Sub, nil},
		{"slot", &c.Slot, &c.hasSlot},
		{"filename", &c.Filename, nil},
		{"filetype", &c.Filetype, nil},
	} {
		rm := payload[s.name]
		if isNull(rm) {
			continue
		}
		var ok bool
		if *s.dst, ok = jsonString(rm); !ok {
			return invalidToken(s.name + " is not a string")
		}
		if s.present != nil {
			*s.present = true
		}
	}
	return nil
}

// matchSigned checks an HS256 signature over header "." payload as sent
// (RFC 7515: a signer that pads signs the padded text) and, if they carry
// '=' padding, also over the unpadded form, so that padding added after
// signing is tolerated too.
func (v *Verifier) matchSigned(sig []byte, header, payload string) bool {
	if v.matchKey(sig, header+"."+payload) {
		return true
	}
	h, p := strings.TrimRight(header, "="), strings.TrimRight(payload, "=")
	return (h != header || p != payload) && v.matchKey(sig, h+"."+p)
}

// unb64url decodes base64url without padding, tolerating trailing '='
// padding. Only the base64url alphabet is admitted (Go's decoder would
// otherwise skip CR and LF). Strict decoding refuses nonzero unused bits in
// the last character: Prosody compares the signature as encoded text, so a
// signature with such bits is another, invalid one, while it decodes the
// header and payload leniently.
func unb64url(s string, strict bool) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	enc := base64.RawURLEncoding
	if strict {
		enc = enc.Strict()
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

// jsonObject decodes a JSON object keeping member names exactly (Go's
// struct decoding would match them case-insensitively; Prosody does not).
func jsonObject(b []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func isNull(rm json.RawMessage) bool {
	return rm == nil || bytes.Equal(rm, []byte("null"))
}

// jsonString decodes a JSON string; anything else (null included) is not ok.
func jsonString(rm json.RawMessage) (string, bool) {
	if len(rm) == 0 || rm[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(rm, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonInt decodes an integral JSON number. An absent or null member is
// (0, false, true); a non-number or a fraction is not ok.
func jsonInt(rm json.RawMessage) (n int64, present, ok bool) {
	if isNull(rm) {
		return 0, false, true
	}
	if len(rm) == 0 || rm[0] != '-' && (rm[0] < '0' || rm[0] > '9') {
		return 0, true, false
	}
	s := string(rm)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, true, false
	}
	return int64(f), true, true
}
