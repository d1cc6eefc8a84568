package hmacauth

import (
	"fmt"
	"strconv"
	"time"
)

// v3Message is what a v3 MAC covers: METHOD LF expires LF url_path, with
// expires exactly as it appears in the query and url_path the full decoded
// URL path, upload prefix included (hmac-file-server).
func v3Message(method, expires, urlPath string) string {
	return method + "\n" + expires + "\n" + urlPath
}

// verifyV3 checks ?v3=&expires=. A wrong MAC is ErrBadSignature whatever
// expires says; only a right MAC is then checked for expiry, so that an
// attacker learns nothing about a URL's lifetime without its MAC.
func (v *Verifier) verifyV3(req Request) (Grant, error) {
	mac, ok := decodeMAC(req.Query.Get("v3"))
	if !ok {
		return Grant{}, fmt.Errorf("v3: MAC is not 64 hex digits: %w", ErrBadSignature)
	}
	raw := req.Query.Get("expires")
	if !v.matchKey(mac, v3Message(req.Method, raw, req.URLPath)) {
		return Grant{}, fmt.Errorf("v3: the signature matches %s for this method and path (%s %s): the signer uses "+
			"another secret, or signed another method, path or expiry: %w", v.secretsTried(), req.Method, req.URLPath, ErrBadSignature)
	}
	exp, ok := parseUnix(raw)
	if !ok {
		return Grant{}, fmt.Errorf("v3: expires is not a Unix time: %w", ErrExpired)
	}
	if pastDeadline(v.now(), exp, v.skew) {
		return Grant{}, fmt.Errorf("v3: URL expired: %w", ErrExpired)
	}
	return Grant{Scheme: SchemeV3, Size: -1, URLExpires: time.Unix(exp, 0)}, nil
}

// parseUnix parses decimal Unix seconds: digits only, no sign, no spaces.
func parseUnix(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
