package hmacauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzVerify feeds random requests to Verify: it must never panic, must
// return a Grant only with a nil error, and every error must be one of the
// sentinels and reveal no secret.
func FuzzVerify(f *testing.F) {
	now := testNow.Unix()
	c := Claims{Sub: "a@b", Iat: now, Exp: now + 300, Slot: "slot", Filename: "f.jpg", Filesize: 5, Filetype: "image/jpeg"}
	tok := SignToken(testSecret, c)
	for _, s := range []struct {
		method, urlPath, filePath, rawQuery, auth string
		cl                                        int64
		ct                                        string
		hasCT                                     bool
	}{
		{"PUT", "/upload/slot/f.jpg", "slot/f.jpg", "v=" + SignV1(testSecret, "slot/f.jpg", 5), "", 5, "", false},
		{"PUT", "/upload/slot/f.jpg", "slot/f.jpg", "v2=" + SignV2(testSecret, "slot/f.jpg", 5, "image/jpeg"), "", 5, "image/jpeg", true},
		{"PUT", "/upload/slot/f.jpg", "slot/f.jpg", "token=" + SignV2(oldSecret, "slot/f.jpg", 5, "application/octet-stream"), "", 5, "", true},
		{"PUT", "/upload/slot/f.jpg", "slot/f.jpg", fmt.Sprintf("v3=%s&expires=%d", SignV3(testSecret, "PUT", "/upload/slot/f.jpg", now), now), "", -1, "", false},
		{"PUT", "/upload/slot/f.jpg", "slot/f.jpg", "", "Bearer " + tok, 5, "", false},
		{"PUT", "/upload/slot/f.jpg", "slot/f.jpg", "", "bearer " + pad(tok), -1, "", false},
		{"PUT", "/upload/x", "x", "v=zz&v2=&v3=", "Basic x", -1, "text/plain; charset=utf-8", true},
		{"HEAD", "", "", "expires=1&token=%00", "Bearer a.b.c", 0, "", false},
		{"PUT", "/", "/", "", "Bearer eyJhbGciOiJub25lIn0.e30.", 0, "", false},
	} {
		f.Add(s.method, s.urlPath, s.filePath, s.rawQuery, s.auth, s.cl, s.ct, s.hasCT)
	}
	v := newTestVerifier()
	sentinels := []error{ErrNoCredential, ErrBadSignature, ErrLengthRequired, ErrExpired,
		ErrTokenInvalid, ErrTokenExpired, ErrSlotMismatch, ErrSizeMismatch}
	f.Fuzz(func(t *testing.T, method, urlPath, filePath, rawQuery, auth string, cl int64, ct string, hasCT bool) {
		q, _ := url.ParseQuery(rawQuery) // keep what parses, as net/http does
		g, err := v.Verify(Request{Method: method, URLPath: urlPath, FilePath: filePath, Query: q,
			Authorization: auth, ContentLength: cl, ContentType: ct, HasContentType: hasCT})
		if err != nil {
			if g != (Grant{}) {
				t.Fatalf("Grant %+v returned with error %v", g, err)
			}
			found := false
			for _, s := range sentinels {
				found = found || errors.Is(err, s)
			}
			if !found || Reason(err) == "" {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), oldSecret) {
				t.Fatalf("error %q reveals a secret", err)
			}
			return
		}
		switch g.Scheme {
		case SchemeV1, SchemeV2:
			if cl < 0 || g.Size != cl {
				t.Fatalf("%s grant %+v for Content-Length %d", g.Scheme, g, cl)
			}
		case SchemeV3:
			if g.Size != -1 || g.URLExpires.IsZero() {
				t.Fatalf("v3 grant %+v", g)
			}
		case SchemeToken:
			if cl >= 0 && g.Size != cl {
				t.Fatalf("token grant %+v for Content-Length %d", g, cl)
			}
		default:
			t.Fatalf("grant with unknown scheme: %+v", g)
		}
	})
}

// FuzzParseToken feeds random tokens to the JWT parser (it must never
// panic, and a token that verifies must survive re-signing unchanged) and
// random claims through SignToken and back.
func FuzzParseToken(f *testing.F) {
	c := baseClaims()
	f.Add(SignToken(testSecret, c), c.Sub, c.Slot, c.Filename, c.Filetype, c.Iat, c.Exp, c.Expires, c.Filesize)
	f.Add(pad(SignToken(oldSecret, c)), "", "", "", "", int64(0), int64(0), int64(0), int64(0))
	f.Add(signRaw(testSecret, prosodyHeader, `{"exp":1e3,"slot":null,"filesize":-0}`), "\u2028<&>", "s/\x00", "\xff", "\"", int64(-1), int64(1<<63-1), int64(-1<<63), int64(1))
	f.Add("eyJhbGciOiJub25lIn0.e30.", "a", "b", "c", "d", int64(1), int64(2), int64(3), int64(4))
	f.Add("a.b.c", "", "", "", "", int64(0), int64(0), int64(0), int64(0))
	v := newTestVerifier()
	f.Fuzz(func(t *testing.T, tok, sub, slot, filename, filetype string, iat, exp, expires, filesize int64) {
		if parsed, err := v.parseToken(tok); err == nil {
			again, err := v.parseToken(SignToken(testSecret, parsed.Claims))
			if err != nil {
				t.Fatalf("re-signed claims %+v do not verify: %v", parsed.Claims, err)
			}
			if again.Claims != parsed.Claims {
				t.Fatalf("claims changed on re-signing: %+v -> %+v", parsed.Claims, again.Claims)
			}
		} else if !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("parse error %v is not ErrTokenInvalid", err)
		}

		c := Claims{Sub: sub, Iat: iat, Exp: exp, Slot: slot, Expires: expires, Filename: filename, Filesize: filesize, Filetype: filetype}
		tok = SignToken(oldSecret, c)
		parsed, err := v.parseToken(tok)
		if len(tok) > maxTokenLen {
			return
		}
		if err != nil {
			t.Fatalf("SignToken(%+v) does not parse: %v", c, err)
		}
		for _, s := range []string{sub, slot, filename, filetype} {
			if !utf8.ValidString(s) {
				return // JSON replaces invalid UTF-8; nothing more to compare
			}
		}
		if parsed.Claims != c {
			t.Fatalf("round trip: %+v -> %+v", c, parsed.Claims)
		}
	})
}

// FuzzFilePath checks FilePath against net/url's path unescaping, and that
// decoding an escaped name gives the name back.
func FuzzFilePath(f *testing.F) {
	for _, s := range []string{"/upload/slot/%c3%a4.jpg", "/upload/a+b%2B%2b", "/upload/%", "/upload/%zz", "/x/%41", "/upload/a/b/c/%C3%A4%20x"} {
		f.Add(s, "/upload/", "ä b+c/%.txt")
	}
	f.Fuzz(func(t *testing.T, escaped, prefix, name string) {
		got, err := FilePath(escaped, prefix)
		if !strings.HasPrefix(escaped, prefix) {
			if err == nil {
				t.Fatalf("FilePath(%q, %q) accepted a path outside the prefix", escaped, prefix)
			}
		} else {
			want, werr := url.PathUnescape(escaped[len(prefix):])
			if (err == nil) != (werr == nil) || got != want && err == nil {
				t.Fatalf("FilePath(%q, %q) = %q, %v; url.PathUnescape: %q, %v", escaped, prefix, got, err, want, werr)
			}
		}
		if err != nil && !errors.Is(err, ErrBadPath) {
			t.Fatalf("error %v is not ErrBadPath", err)
		}
		// Any name, escaped (lower-case hex for half of it), decodes back.
		var b strings.Builder
		for i := 0; i < len(name); i++ {
			if c := name[i]; c == '/' || c == '+' || 'a' <= c && c <= 'z' {
				b.WriteByte(c)
			} else if i%2 == 0 {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				fmt.Fprintf(&b, "%%%02x", c)
			}
		}
		if back, err := FilePath("/upload/"+b.String(), "/upload/"); err != nil || back != name {
			t.Fatalf("FilePath of escaped %q = %q, %v", name, back, err)
		}
	})
}
