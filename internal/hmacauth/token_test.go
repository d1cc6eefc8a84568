package hmacauth

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

const prosodyHeader = `{"alg":"HS256","typ":"JWT"}`

// signRaw builds a compact HS256 JWS over arbitrary header and payload text.
func signRaw(secret, header, payload string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return signed + "." + enc.EncodeToString(sum([]byte(secret), signed))
}

// pad adds base64 '=' padding to each part of a compact JWS.
func pad(tok string) string {
	parts := strings.Split(tok, ".")
	for i, p := range parts {
		parts[i] = p + strings.Repeat("=", (4-len(p)%4)%4)
	}
	return strings.Join(parts, ".")
}

// padSigned re-signs tok's header and payload with padding, as a signer
// that pads would.
func padSigned(secret, tok string) string {
	parts := strings.Split(pad(tok), ".")
	signed := parts[0] + "." + parts[1]
	return signed + "." + base64.URLEncoding.EncodeToString(sum([]byte(secret), signed))
}

// flipLastByte changes the last byte a base64url signature encodes.
func flipLastByte(sig string) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	b[len(b)-1] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// nonCanonical sets the unused low bits of a 43-character signature's last
// character: the same bytes to a lenient decoder, another string to Prosody.
func nonCanonical(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[i|3])
}

func baseClaims() Claims {
	now := testNow.Unix()
	return Claims{
		Sub: "alice@example.org", Iat: now - 100, Exp: now + 200, Slot: "Ta406N7jHvDN-xtCcKPsLT0w",
		Expires: now + 7*86400, Filename: "ä b+c.jpg", Filesize: 12345, Filetype: "image/jpeg",
	}
}

func TestTokenValid(t *testing.T) {
	v := newTestVerifier()
	c := baseClaims()
	tok := SignToken(testSecret, c)
	fp := c.Slot + "/" + c.Filename
	want := Grant{Scheme: SchemeToken, ContentType: c.Filetype, Size: c.Filesize, FileExpires: time.Unix(c.Expires, 0),
		Subject: c.Sub, Filename: c.Filename, Slot: c.Slot}
	for _, tc := range []struct {
		name string
		auth string
		cl   int64
	}{
		{"prosody form", "Bearer " + tok, c.Filesize},
		{"chunked body", "Bearer " + tok, -1},
		{"lower-case scheme", "bearer " + tok, c.Filesize},
		{"upper-case scheme", "BEARER " + tok, c.Filesize},
		{"padded header value", "  Bearer   " + tok + " \t", c.Filesize},
		{"tab separator", "Bearer\t" + tok, c.Filesize},
		{"base64 padding added after signing", "Bearer " + pad(tok), c.Filesize},
		{"base64 padding by the signer", "Bearer " + padSigned(testSecret, tok), c.Filesize},
		{"previous secret", "Bearer " + SignToken(oldSecret, c), c.Filesize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(Request{Method: "PUT", FilePath: fp, Authorization: tc.auth, ContentLength: tc.cl})
			checkResult(t, g, err, nil)
			if g != want {
				t.Errorf("Grant %+v, want %+v", g, want)
			}
		})
	}
	if len(strings.Split(tok, ".")[1])%4 == 0 {
		t.Fatal("the test payload needs padding for the padding cases to mean anything")
	}
}

func TestTokenGrantOptionalClaims(t *testing.T) {
	v := newTestVerifier()
	exp := testNow.Unix() + 10
	// No expires and no filesize: zero FileExpires, Size -1, accepted only for a chunked body.
	tok := signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":%d,"slot":"s"}`, exp))
	g, err := v.Verify(Request{FilePath: "s/f", Authorization: "Bearer " + tok, ContentLength: -1})
	checkResult(t, g, err, nil)
	if want := (Grant{Scheme: SchemeToken, Size: -1, Slot: "s"}); g != want {
		t.Errorf("Grant %+v, want %+v", g, want)
	}
	g, err = v.Verify(Request{FilePath: "s/f", Authorization: "Bearer " + tok, ContentLength: 0})
	checkResult(t, g, err, ErrSizeMismatch)
	// Nulls count as absent, floats without fraction as integers (Lua 5.4 prints 1000.0 and 1e+15).
	tok = signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":%d.0,"slot":"s","sub":null,"expires":null,"filesize":1e+15,"iat":1.7e9}`, exp))
	g, err = v.Verify(Request{FilePath: "s/f", Authorization: "Bearer " + tok, ContentLength: 1e15})
	checkResult(t, g, err, nil)
	if g.Size != 1e15 || !g.FileExpires.IsZero() || g.Subject != "" {
		t.Errorf("Grant %+v", g)
	}
}

func TestTokenInvalid(t *testing.T) {
	v := newTestVerifier()
	c := baseClaims()
	fp := c.Slot + "/" + c.Filename
	good := SignToken(testSecret, c)
	parts := strings.Split(good, ".")
	payload := func(edit func(*Claims)) string {
		cc := c
		edit(&cc)
		return strings.Split(SignToken(testSecret, cc), ".")[1]
	}
	exp := c.Exp
	claimsJSON := func(extra string) string {
		return fmt.Sprintf(`{"exp":%d,"slot":%q,"filesize":%d%s}`, exp, c.Slot, c.Filesize, extra)
	}
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"alg none, no signature", b64url([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64url([]byte(claimsJSON(""))) + "."},
		{"alg none, unsigned", strings.Join([]string{b64url([]byte(`{"alg":"none"}`)), parts[1], ""}, ".")},
		{"alg none, HMAC signature", signRaw(testSecret, `{"alg":"none","typ":"JWT"}`, claimsJSON(""))},
		{"alg RS256, HMAC signature", signRaw(testSecret, `{"alg":"RS256","typ":"JWT"}`, claimsJSON(""))},
		{"alg HS512", signRaw(testSecret, `{"alg":"HS512","typ":"JWT"}`, claimsJSON(""))},
		{"alg lower case", signRaw(testSecret, `{"alg":"hs256","typ":"JWT"}`, claimsJSON(""))},
		{"alg missing", signRaw(testSecret, `{"typ":"JWT"}`, claimsJSON(""))},
		{"alg not a string", signRaw(testSecret, `{"alg":256}`, claimsJSON(""))},
		{"alg member case", signRaw(testSecret, `{"ALG":"HS256"}`, claimsJSON(""))},
		{"header not an object", signRaw(testSecret, `["HS256"]`, claimsJSON(""))},
		{"header not JSON", signRaw(testSecret, `alg=HS256`, claimsJSON(""))},
		{"tampered payload", parts[0] + "." + payload(func(c *Claims) { c.Filesize++ }) + "." + parts[2]},
		{"tampered slot", parts[0] + "." + payload(func(c *Claims) { c.Slot = "other" }) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", 43)},
		{"last signature byte wrong", parts[0] + "." + parts[1] + "." + flipLastByte(parts[2])},
		{"non-canonical signature encoding", parts[0] + "." + parts[1] + "." + nonCanonical(parts[2])},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:40]},
		{"signature of the payload only", parts[0] + "." + parts[1] + "." + b64url(sum([]byte(testSecret), parts[1]))},
		{"wrong secret", SignToken(badSecret, c)},
		{"two parts", parts[0] + "." + parts[1]},
		{"four parts", good + "." + parts[2]},
		{"empty part", "." + parts[1] + "." + parts[2]},
		{"standard base64 alphabet", parts[0] + "." + strings.ReplaceAll(strings.ReplaceAll(parts[1], "-", "+"), "_", "/") + "+/." + parts[2]},
		{"embedded newline", parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2]},
		{"padding inside", parts[0] + "." + parts[1][:4] + "=" + parts[1][4:] + "." + parts[2]},
		{"payload not an object", signRaw(testSecret, prosodyHeader, `[1,2]`)},
		{"payload null", signRaw(testSecret, prosodyHeader, `null`)},
		{"payload not JSON", signRaw(testSecret, prosodyHeader, `{"exp":`)},
		{"exp missing", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"slot":%q,"filesize":%d}`, c.Slot, c.Filesize))},
		{"exp null", signRaw(testSecret, prosodyHeader, `{"exp":null,"slot":"s"}`)},
		{"exp a string", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":"%d","slot":"s"}`, exp))},
		{"exp with a fraction", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":%d.5,"slot":"s"}`, exp))},
		{"exp out of range", signRaw(testSecret, prosodyHeader, `{"exp":1e30,"slot":"s"}`)},
		{"claim names are case-sensitive", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"EXP":%d,"slot":"s"}`, exp))},
		{"filesize a string", signRaw(testSecret, prosodyHeader, claimsJSON(`,"filesize":"12345"`))},
		{"iat a string", signRaw(testSecret, prosodyHeader, claimsJSON(`,"iat":"x"`))},
		{"expires a bool", signRaw(testSecret, prosodyHeader, claimsJSON(`,"expires":true`))},
		{"sub a number", signRaw(testSecret, prosodyHeader, claimsJSON(`,"sub":1`))},
		{"slot a number", signRaw(testSecret, prosodyHeader, claimsJSON(`,"slot":1`))},
		{"filetype an object", signRaw(testSecret, prosodyHeader, claimsJSON(`,"filetype":{}`))},
		{"filename an array", signRaw(testSecret, prosodyHeader, claimsJSON(`,"filename":["a"]`))},
		{"too long", signRaw(testSecret, prosodyHeader, claimsJSON(`,"x":"`+strings.Repeat("a", maxTokenLen)+`"`))},
		{"expired and wrongly signed", SignToken(badSecret, Claims{Exp: 1, Slot: c.Slot, Filesize: c.Filesize})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(Request{Method: "PUT", FilePath: fp, Authorization: "Bearer " + tc.tok, ContentLength: c.Filesize})
			checkResult(t, g, err, ErrTokenInvalid, parts[2])
		})
	}
}

func TestTokenChecks(t *testing.T) {
	now := testNow.Unix()
	c := baseClaims()
	fp := c.Slot + "/" + c.Filename
	with := func(edit func(*Claims)) string {
		cc := c
		edit(&cc)
		return SignToken(testSecret, cc)
	}
	for _, tc := range []struct {
		name string
		tok  string
		fp   string
		cl   int64
		skew time.Duration
		want error
	}{
		{"valid", SignToken(testSecret, c), fp, c.Filesize, 0, nil},
		{"exp now", with(func(c *Claims) { c.Exp = now }), fp, c.Filesize, 0, nil},
		{"exp a second ago", with(func(c *Claims) { c.Exp = now - 1 }), fp, c.Filesize, 0, ErrTokenExpired},
		{"exp within skew", with(func(c *Claims) { c.Exp = now - 60 }), fp, c.Filesize, time.Minute, nil},
		{"exp beyond skew", with(func(c *Claims) { c.Exp = now - 61 }), fp, c.Filesize, time.Minute, ErrTokenExpired},
		{"exp zero", with(func(c *Claims) { c.Exp = 0 }), fp, c.Filesize, 0, ErrTokenExpired},
		{"exp negative", with(func(c *Claims) { c.Exp = -1 << 63 }), fp, c.Filesize, 0, ErrTokenExpired},
		{"file expiry in the past is not token expiry", with(func(c *Claims) { c.Expires = 1 }), fp, c.Filesize, 0, nil},
		{"expired beats slot mismatch", with(func(c *Claims) { c.Exp = now - 1 }), "other/x", c.Filesize + 1, 0, ErrTokenExpired},
		{"other slot", SignToken(testSecret, c), "other/" + c.Filename, c.Filesize, 0, ErrSlotMismatch},
		{"slot is a prefix of the segment", SignToken(testSecret, c), c.Slot + "x/" + c.Filename, c.Filesize, 0, ErrSlotMismatch},
		{"segment is a prefix of the slot", SignToken(testSecret, c), c.Slot[:5] + "/" + c.Filename, c.Filesize, 0, ErrSlotMismatch},
		{"slot only, no file name", SignToken(testSecret, c), c.Slot, c.Filesize, 0, nil},
		{"deeper path", SignToken(testSecret, c), c.Slot + "/a/b/c", c.Filesize, 0, nil},
		{"empty path", SignToken(testSecret, c), "", c.Filesize, 0, ErrSlotMismatch},
		{"empty slot, leading slash", with(func(c *Claims) { c.Slot = "" }), "/" + c.Filename, c.Filesize, 0, ErrSlotMismatch},
		{"empty slot, empty path", with(func(c *Claims) { c.Slot = "" }), "", c.Filesize, 0, ErrSlotMismatch},
		{"slot missing", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":%d,"filesize":%d}`, c.Exp, c.Filesize)), fp, c.Filesize, 0, ErrSlotMismatch},
		{"slot null", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":%d,"slot":null,"filesize":%d}`, c.Exp, c.Filesize)), "null/x", c.Filesize, 0, ErrSlotMismatch},
		{"slot mismatch beats size mismatch", SignToken(testSecret, c), "other/x", c.Filesize + 1, 0, ErrSlotMismatch},
		{"larger body", SignToken(testSecret, c), fp, c.Filesize + 1, 0, ErrSizeMismatch},
		{"smaller body", SignToken(testSecret, c), fp, c.Filesize - 1, 0, ErrSizeMismatch},
		{"empty body", SignToken(testSecret, c), fp, 0, 0, ErrSizeMismatch},
		{"zero-size file", with(func(c *Claims) { c.Filesize = 0 }), fp, 0, 0, nil},
		{"chunked body", SignToken(testSecret, c), fp, -1, 0, nil},
		{"filesize missing", signRaw(testSecret, prosodyHeader, fmt.Sprintf(`{"exp":%d,"slot":%q}`, c.Exp, c.Slot)), fp, 0, 0, ErrSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(func(o *Options) { o.ClockSkew = tc.skew })
			g, err := v.Verify(Request{Method: "PUT", FilePath: tc.fp, Authorization: "Bearer " + tc.tok, ContentLength: tc.cl})
			checkResult(t, g, err, tc.want)
			if err == nil && g.Scheme != SchemeToken {
				t.Errorf("scheme %q", g.Scheme)
			}
		})
	}
}

// A token's exp may lie at most MaxTokenLifetime (plus the clock skew) ahead: one that
// claims to be valid for a billion seconds is refused.
func TestTokenLifetimeBounded(t *testing.T) {
	now := testNow.Unix()
	c := baseClaims()
	fp := c.Slot + "/" + c.Filename
	for _, tc := range []struct {
		name     string
		exp      int64
		max      time.Duration
		skew     time.Duration
		wantFail bool
	}{
		{"Prosody's 5 minutes", now + 300, time.Hour, 0, false},
		{"exactly the bound", now + 3600, time.Hour, 0, false},
		{"a second past the bound", now + 3601, time.Hour, 0, true},
		{"past the bound within the skew", now + 3630, time.Hour, 30 * time.Second, false},
		{"a billion seconds", now + 1e9, time.Hour, 30 * time.Second, true},
		{"largest exp", 1<<63 - 1, time.Hour, 0, true},
		{"no bound", now + 1e9, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := c
			cc.Exp = tc.exp
			v := newTestVerifier(func(o *Options) { o.MaxTokenLifetime, o.ClockSkew = tc.max, tc.skew })
			g, err := v.Verify(Request{Method: "PUT", FilePath: fp, Authorization: "Bearer " + SignToken(testSecret, cc), ContentLength: c.Filesize})
			var want error
			if tc.wantFail {
				want = ErrTokenInvalid
			}
			checkResult(t, g, err, want)
		})
	}
}

// TestSignTokenForm checks the exact text SignToken produces: Prosody's
// constant header, the claims in field order, no HTML escaping, no padding.
func TestSignTokenForm(t *testing.T) {
	tok := SignToken("k", Claims{Sub: "a@b", Iat: 1, Exp: 2, Slot: "s", Filename: "<&>.txt", Filesize: 3, Filetype: "text/plain"})
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || strings.Contains(tok, "=") {
		t.Fatalf("not an unpadded compact JWS: %s", tok)
	}
	if parts[0] != "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" {
		t.Errorf("header %s is not Prosody's", parts[0])
	}
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if want := `{"sub":"a@b","iat":1,"exp":2,"slot":"s","filename":"<&>.txt","filesize":3,"filetype":"text/plain"}`; string(p) != want {
		t.Errorf("payload %s, want %s", p, want)
	}
}
