package hmacauth

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
)

const (
	testSecret = "s3cr3t-current"
	oldSecret  = "s3cr3t-previous"
	badSecret  = "not-the-secret"
)

// testNow is the fixed clock of the tests.
var testNow = time.Unix(1_700_000_100, 0)

// testTypeByName is a deterministic extension table (the default reads the
// system's mime.types).
func testTypeByName(name string) string {
	return map[string]string{
		".jpg": "image/jpeg",
		".txt": "text/plain",
		".ogg": "audio/ogg",
		".bin": "application/octet-stream",
	}[path.Ext(name)]
}

// newTestVerifier returns a Verifier with testSecret, oldSecret as the
// previous one, the fixed clock and testTypeByName; edit adjusts the options.
func newTestVerifier(edit ...func(*Options)) *Verifier {
	o := Options{
		Secret:          testSecret,
		PreviousSecrets: []string{oldSecret},
		TypeByName:      testTypeByName,
		Now:             func() time.Time { return testNow },
	}
	for _, e := range edit {
		e(&o)
	}
	return NewVerifier(o)
}

// query builds url.Values from key, value pairs.
func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

// flipLast changes the last hex digit of a MAC, so that only its last
// byte is wrong.
func flipLast(mac string) string {
	last := "1"
	if strings.HasSuffix(mac, "1") {
		last = "2"
	}
	return mac[:len(mac)-1] + last
}

// checkResult compares Verify's outcome with the expected sentinel (nil for
// success) and checks that an error carries no secret or full MAC and comes
// with a zero Grant.
func checkResult(t *testing.T, g Grant, err, want error, macs ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Verify: error %v, want %v", err, want)
	}
	if g != (Grant{}) {
		t.Errorf("Verify returned Grant %+v with error %v", g, err)
	}
	msg := err.Error()
	for _, s := range append([]string{testSecret, oldSecret, badSecret}, macs...) {
		if len(s) >= 8 && strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
			t.Errorf("error %q reveals a secret or MAC", msg)
		}
	}
}

func TestNoCredential(t *testing.T) {
	v := newTestVerifier()
	for _, tc := range []struct {
		name string
		req  Request
		want error
	}{
		{"nothing", Request{Method: "PUT", FilePath: "a/b", ContentLength: 1}, ErrNoCredential},
		{"unrelated query", Request{Query: query("foo", "bar", "expires", "4102444800"), ContentLength: 1}, ErrNoCredential},
		{"basic auth", Request{Authorization: "Basic dXNlcjpwYXNz", ContentLength: 1}, ErrNoCredential},
		{"bearer-like word", Request{Authorization: "Bearerx abc", ContentLength: 1}, ErrNoCredential},
		{"whitespace header", Request{Authorization: "   ", ContentLength: 1}, ErrNoCredential},
		{"bearer without token", Request{Authorization: "Bearer", ContentLength: 1}, ErrTokenInvalid},
		{"bearer blank token", Request{Authorization: "Bearer    ", ContentLength: 1}, ErrTokenInvalid},
		{"bearer garbage", Request{Authorization: "Bearer abc", ContentLength: 1}, ErrTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(tc.req)
			checkResult(t, g, err, tc.want)
		})
	}
}

func TestHighestVersionWins(t *testing.T) {
	v := newTestVerifier()
	const fp, up, size, exp = "slot/f.jpg", "/upload/slot/f.jpg", 10, "1700000200"
	good1 := SignV1(testSecret, fp, size)
	good2 := SignV2(testSecret, fp, size, "image/jpeg")
	good3 := SignV3(testSecret, "PUT", up, 1700000200)
	tok := SignToken(testSecret, Claims{Sub: "a@b", Iat: 1700000000, Exp: 1700000300, Slot: "slot", Filename: "f.jpg", Filesize: size, Filetype: "image/jpeg"})
	bad := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name   string
		q      url.Values
		auth   string
		want   error
		scheme Scheme
	}{
		{"v3 over v", query("v3", good3, "expires", exp, "v", bad), "", nil, SchemeV3},
		{"v3 over v2", query("v3", good3, "expires", exp, "v2", bad), "", nil, SchemeV3},
		{"bad v3 not rescued by good v", query("v3", bad, "expires", exp, "v", good1), "", ErrBadSignature, ""},
		{"bad v3 not rescued by good v2", query("v3", bad, "expires", exp, "v2", good2), "", ErrBadSignature, ""},
		{"v2 over v", query("v2", good2, "v", bad), "", nil, SchemeV2},
		{"bad v2 not rescued by good v", query("v2", bad, "v", good1), "", ErrBadSignature, ""},
		{"v2 over token alias", query("v2", good2, "token", bad), "", nil, SchemeV2},
		{"token alias over v", query("token", good2, "v", bad), "", nil, SchemeV2},
		{"bad token alias not rescued by good v", query("token", bad, "v", good1), "", ErrBadSignature, ""},
		{"query over bearer", query("v", bad), "Bearer " + tok, ErrBadSignature, ""},
		{"good query with bad bearer", query("v", good1), "Bearer junk", nil, SchemeV1},
		{"bearer alone", nil, "Bearer " + tok, nil, SchemeToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(Request{
				Method: "PUT", URLPath: up, FilePath: fp, Query: tc.q, Authorization: tc.auth,
				ContentLength: size, ContentType: "image/jpeg", HasContentType: true,
			})
			checkResult(t, g, err, tc.want, good1, good2, good3)
			if err == nil && g.Scheme != tc.scheme {
				t.Errorf("scheme %q, want %q", g.Scheme, tc.scheme)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	const fp, size = "slot/f.txt", 3
	for _, tc := range []struct {
		name     string
		current  string
		previous []string
		signer   string
		want     error
	}{
		{"current", testSecret, []string{oldSecret}, testSecret, nil},
		{"previous", testSecret, []string{oldSecret}, oldSecret, nil},
		{"second previous", testSecret, []string{"older", oldSecret}, oldSecret, nil},
		{"unknown", testSecret, []string{oldSecret}, badSecret, ErrBadSignature},
		{"previous dropped", testSecret, nil, oldSecret, ErrBadSignature},
		{"empty secret never verifies", "", nil, "", ErrBadSignature},
		{"empty previous ignored", testSecret, []string{""}, "", ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(func(o *Options) { o.Secret, o.PreviousSecrets = tc.current, tc.previous })
			for _, q := range []url.Values{
				query("v", SignV1(tc.signer, fp, size)),
				query("v2", SignV2(tc.signer, fp, size, "text/plain")),
				query("v3", SignV3(tc.signer, "PUT", "/u/"+fp, testNow.Unix()), "expires", fmt.Sprint(testNow.Unix())),
			} {
				g, err := v.Verify(Request{Method: "PUT", URLPath: "/u/" + fp, FilePath: fp, Query: q,
					ContentLength: size, ContentType: "text/plain", HasContentType: true})
				checkResult(t, g, err, tc.want)
			}
			tok := SignToken(tc.signer, Claims{Exp: testNow.Unix(), Slot: "slot", Filesize: size})
			wantTok := tc.want
			if wantTok != nil {
				wantTok = ErrTokenInvalid
			}
			g, err := v.Verify(Request{FilePath: fp, Authorization: "Bearer " + tok, ContentLength: size})
			checkResult(t, g, err, wantTok)
		})
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("other"), ""},
		{ErrNoCredential, "no_credential"},
		{ErrBadSignature, "bad_signature"},
		{ErrLengthRequired, "length_required"},
		{ErrExpired, "expired"},
		{ErrTokenInvalid, "token_invalid"},
		{ErrTokenExpired, "token_expired"},
		{ErrSlotMismatch, "slot_mismatch"},
		{ErrSizeMismatch, "size_mismatch"},
		{fmt.Errorf("v2: context: %w", ErrBadSignature), "bad_signature"},
		{fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", ErrTokenExpired)), "token_expired"},
		{ErrBadPath, ""},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestNoSecretInFormatting(t *testing.T) {
	o := Options{Secret: testSecret, PreviousSecrets: []string{oldSecret}}
	v := NewVerifier(o)
	for _, s := range []string{
		fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%v", &o),
		fmt.Sprint(v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%v", *v), fmt.Sprintf("%#v", *v),
	} {
		if strings.Contains(s, testSecret) || strings.Contains(s, oldSecret) {
			t.Errorf("formatting reveals a secret: %s", s)
		}
		// The secret's bytes must not show up as a byte slice either.
		if strings.Contains(s, fmt.Sprint([]byte(testSecret))) {
			t.Errorf("formatting reveals a secret's bytes: %s", s)
		}
	}
}

func TestPastDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		now      time.Time
		deadline int64
		skew     time.Duration
		want     bool
	}{
		{now, 1001, 0, false},
		{now, 1000, 0, false}, // valid during its own second
		{now.Add(999 * time.Millisecond), 1000, 0, false},
		{now, 999, 0, true},
		{now, 990, 10 * time.Second, false},
		{now, 989, 10 * time.Second, true},
		{now, 990, 9999 * time.Millisecond, true},
		{now, -1 << 63, time.Duration(1<<63 - 1), true},
		{now, 1<<63 - 1, 0, false},
	} {
		if got := pastDeadline(tc.now, tc.deadline, tc.skew); got != tc.want {
			t.Errorf("pastDeadline(%v, %d, %v) = %v, want %v", tc.now.Unix(), tc.deadline, tc.skew, got, tc.want)
		}
	}
}

func TestNegativeSkewIsExact(t *testing.T) {
	v := newTestVerifier(func(o *Options) { o.ClockSkew = -time.Hour })
	exp := testNow.Unix()
	g, err := v.Verify(Request{Method: "PUT", URLPath: "/x", Query: query("v3", SignV3(testSecret, "PUT", "/x", exp), "expires", fmt.Sprint(exp))})
	checkResult(t, g, err, nil)
}

func TestDefaults(t *testing.T) {
	v := NewVerifier(Options{Secret: testSecret})
	if got := v.typeByName("index.html"); got != "text/html" {
		t.Errorf("default TypeByName(index.html) = %q, want text/html without parameters", got)
	}
	if got := v.typeByName("x.unknown-ext"); got != "" {
		t.Errorf("default TypeByName(x.unknown-ext) = %q, want empty", got)
	}
	// The default clock is the real one: a v3 URL expiring in an hour works.
	exp := time.Now().Add(time.Hour).Unix()
	g, err := v.Verify(Request{Method: "PUT", URLPath: "/u/a", Query: query("v3", SignV3(testSecret, "PUT", "/u/a", exp), "expires", fmt.Sprint(exp))})
	checkResult(t, g, err, nil)
	// And the default type table supplies the extension candidate.
	g, err = v.Verify(Request{FilePath: "s/p.png", Query: query("v2", SignV2(testSecret, "s/p.png", 4, "image/png")), ContentLength: 4})
	checkResult(t, g, err, nil)
	if g.ContentType != "image/png" {
		t.Errorf("ContentType %q, want image/png", g.ContentType)
	}
}

func TestTag(t *testing.T) {
	v := newTestVerifier()
	a := v.Tag("upload-session", "a/b.bin")
	if len(a) != 64 || a != v.Tag("upload-session", "a/b.bin") {
		t.Fatalf("Tag = %q: want 64 hex digits, the same every time", a)
	}
	for _, other := range []string{v.Tag("upload-session", "a/b.bin2"), v.Tag("other", "a/b.bin"),
		NewVerifier(Options{Secret: "another-secret-0123456789abcdef0123"}).Tag("upload-session", "a/b.bin")} {
		if other == a {
			t.Fatalf("Tag collides across messages, purposes or secrets")
		}
	}
	if NewVerifier(Options{}).Tag("p", "m") != "" {
		t.Fatalf("Tag without a secret")
	}
	// After a rotation, what the old secret gave is among the previous tags.
	rotated := newTestVerifier(func(o *Options) {
		o.Secret, o.PreviousSecrets = "rotated-secret-0123456789abcdef0123", []string{testSecret}
	})
	if prev := rotated.PreviousTags("upload-session", "a/b.bin"); len(prev) != 1 || prev[0] != a || rotated.Tag("upload-session", "a/b.bin") == a {
		t.Fatalf("previous tags %v after a rotation, want [%s]", prev, a)
	}
}
