package hmacauth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestV3(t *testing.T) {
	const up = "/upload/ä ö/x+y z.bin"
	now := testNow.Unix()
	sign := func(secret, method, p string, exp int64) string { return SignV3(secret, method, p, exp) }
	future := now + 3600
	good := sign(testSecret, "PUT", up, future)
	for _, tc := range []struct {
		name    string
		method  string
		urlPath string
		mac     string
		expires string
		skew    time.Duration
		clock   time.Time
		want    error
	}{
		{"valid", "PUT", up, good, fmt.Sprint(future), 0, testNow, nil},
		{"upper-case hex", "PUT", up, strings.ToUpper(good), fmt.Sprint(future), 0, testNow, nil},
		{"previous secret", "PUT", up, sign(oldSecret, "PUT", up, future), fmt.Sprint(future), 0, testNow, nil},
		{"POST", "POST", "/files/", sign(testSecret, "POST", "/files/", future), fmt.Sprint(future), 0, testNow, nil},
		{"HEAD", "HEAD", up, sign(testSecret, "HEAD", up, future), fmt.Sprint(future), 0, testNow, nil},
		{"last digit wrong", "PUT", up, flipLast(good), fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"other method", "POST", up, good, fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"other path", "PUT", "/upload/other.bin", good, fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"prefix not optional", "PUT", strings.TrimPrefix(up, "/upload/"), good, fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"expires tampered", "PUT", up, good, fmt.Sprint(future + 1), 0, testNow, ErrBadSignature},
		{"wrong secret", "PUT", up, sign(badSecret, "PUT", up, future), fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"not hex", "PUT", up, "x" + good[1:], fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"empty MAC", "PUT", up, "", fmt.Sprint(future), 0, testNow, ErrBadSignature},
		{"wrong MAC and expired", "PUT", up, sign(badSecret, "PUT", up, now-100), fmt.Sprint(now - 100), 0, testNow, ErrBadSignature},
		{"wrong MAC and bad expires", "PUT", up, good, "soon", 0, testNow, ErrBadSignature},
		// Expiry, checked only once the MAC is right.
		{"expires now", "PUT", up, sign(testSecret, "PUT", up, now), fmt.Sprint(now), 0, testNow, nil},
		{"expires now, late in the second", "PUT", up, sign(testSecret, "PUT", up, now), fmt.Sprint(now), 0, testNow.Add(999 * time.Millisecond), nil},
		{"expired a second ago", "PUT", up, sign(testSecret, "PUT", up, now-1), fmt.Sprint(now - 1), 0, testNow, ErrExpired},
		{"within skew", "PUT", up, sign(testSecret, "PUT", up, now-30), fmt.Sprint(now - 30), 30 * time.Second, testNow, nil},
		{"just beyond skew", "PUT", up, sign(testSecret, "PUT", up, now-31), fmt.Sprint(now - 31), 30 * time.Second, testNow, ErrExpired},
		{"sub-second skew", "PUT", up, sign(testSecret, "PUT", up, now-1), fmt.Sprint(now - 1), 500 * time.Millisecond, testNow, ErrExpired},
		{"far future", "PUT", up, sign(testSecret, "PUT", up, 1<<63-1), fmt.Sprint(int64(1<<63 - 1)), 0, testNow, nil},
		{"epoch", "PUT", up, sign(testSecret, "PUT", up, 0), "0", time.Hour, testNow, ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(func(o *Options) {
				o.ClockSkew = tc.skew
				o.Now = func() time.Time { return tc.clock }
			})
			g, err := v.Verify(Request{Method: tc.method, URLPath: tc.urlPath, Query: query("v3", tc.mac, "expires", tc.expires),
				ContentLength: -1, FilePath: "unused"})
			checkResult(t, g, err, tc.want, good)
			if err == nil {
				if g.Scheme != SchemeV3 || g.Size != -1 || g.ContentType != "" || g.Subject != "" {
					t.Errorf("Grant %+v", g)
				}
				if fmt.Sprint(g.URLExpires.Unix()) != tc.expires {
					t.Errorf("Expires %d, want %s", g.URLExpires.Unix(), tc.expires)
				}
			}
		})
	}
}

// TestV3UnparsableExpires: a MAC that is right over an expires that is not
// a plain decimal Unix time is still refused, as expired.
func TestV3UnparsableExpires(t *testing.T) {
	v := newTestVerifier()
	const up = "/upload/a.bin"
	for _, raw := range []string{"", "soon", "+4102444800", "-5", " 4102444800", "4102444800 ", "4.1e9", "0x10", "99999999999999999999"} {
		mac := signV3Raw(testSecret, "PUT", up, raw)
		g, err := v.Verify(Request{Method: "PUT", URLPath: up, Query: query("v3", mac, "expires", raw)})
		checkResult(t, g, err, ErrExpired, mac)
	}
	// Without an expires parameter at all.
	mac := signV3Raw(testSecret, "PUT", up, "")
	g, err := v.Verify(Request{Method: "PUT", URLPath: up, Query: query("v3", mac)})
	checkResult(t, g, err, ErrExpired, mac)
}

// signV3Raw signs an arbitrary expires string, for tests of malformed ones.
func signV3Raw(secret, method, urlPath, expires string) string {
	return fmt.Sprintf("%x", sum([]byte(secret), v3Message(method, expires, urlPath)))
}
