package hmacauth

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readVectors returns the TAB-separated fields of each vector line of a
// testdata file, skipping comments.
func readVectors(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, strings.Split(line, "\t"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no vectors", name)
	}
	return out
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVectors checks Sign* and Verify against MACs and a JWT computed by
// openssl (testdata/vectors.sh).
func TestVectors(t *testing.T) {
	seen := map[string]int{}
	for _, f := range readVectors(t, "testdata/vectors.txt") {
		seen[f[0]]++
		secret := f[1]
		v := NewVerifier(Options{Secret: secret, TypeByName: testTypeByName})
		switch f[0] {
		case "v1":
			fp, size, mac := f[2], atoi(t, f[3]), f[4]
			if got := SignV1(secret, fp, size); got != mac {
				t.Errorf("SignV1(%q, %d) = %s, openssl %s", fp, size, got, mac)
			}
			for _, m := range []string{mac, strings.ToUpper(mac)} {
				g, err := v.Verify(Request{Method: "PUT", FilePath: fp, Query: query("v", m), ContentLength: size})
				if err != nil || g.Scheme != SchemeV1 || g.Size != size {
					t.Errorf("v1 %q: %+v, %v", fp, g, err)
				}
			}
		case "v2":
			fp, size, ct, mac := f[2], atoi(t, f[3]), f[4], f[5]
			if got := SignV2(secret, fp, size, ct); got != mac {
				t.Errorf("SignV2(%q, %d, %q) = %s, openssl %s", fp, size, ct, got, mac)
			}
			for _, m := range []string{mac, strings.ToUpper(mac)} {
				g, err := v.Verify(Request{Method: "PUT", FilePath: fp, Query: query("v2", m), ContentLength: size,
					ContentType: ct, HasContentType: true})
				if err != nil || g.Scheme != SchemeV2 || g.ContentType != ct {
					t.Errorf("v2 %q: %+v, %v", fp, g, err)
				}
			}
		case "v3":
			method, up, exp, mac := f[2], f[3], atoi(t, f[4]), f[5]
			if got := SignV3(secret, method, up, exp); got != mac {
				t.Errorf("SignV3(%q, %q, %d) = %s, openssl %s", method, up, exp, got, mac)
			}
			v := NewVerifier(Options{Secret: secret, Now: func() time.Time { return time.Unix(exp, 0) }})
			g, err := v.Verify(Request{Method: method, URLPath: up, Query: query("v3", strings.ToUpper(mac), "expires", f[4]), ContentLength: -1})
			if err != nil || g.Scheme != SchemeV3 || g.URLExpires.Unix() != exp {
				t.Errorf("v3 %s %q: %+v, %v", method, up, g, err)
			}
			v = NewVerifier(Options{Secret: secret, Now: func() time.Time { return time.Unix(exp+1, 0) }})
			if _, err := v.Verify(Request{Method: method, URLPath: up, Query: query("v3", mac, "expires", f[4])}); Reason(err) != "expired" {
				t.Errorf("v3 %s %q a second late: %v, want expired", method, up, err)
			}
		case "jwt":
			payload, tok := f[2], f[3]
			var c Claims
			if err := json.Unmarshal([]byte(payload), &c); err != nil {
				t.Fatal(err)
			}
			if got := SignToken(secret, c); got != tok {
				t.Errorf("SignToken(%s) =\n%s\nopenssl:\n%s", payload, got, tok)
			}
			checkTokenVector(t, secret, tok, c)
		default:
			t.Errorf("unknown vector kind %q", f[0])
		}
	}
	for _, k := range []string{"v1", "v2", "v3", "jwt"} {
		if seen[k] == 0 {
			t.Errorf("no %s vectors", k)
		}
	}
}

// checkTokenVector verifies tok, made by another implementation for claims
// c, on its slot URL during its lifetime.
func checkTokenVector(t *testing.T, secret, tok string, c Claims) {
	t.Helper()
	v := NewVerifier(Options{Secret: secret, Now: func() time.Time { return time.Unix(c.Iat+1, 0) }})
	g, err := v.Verify(Request{Method: "PUT", FilePath: c.Slot + "/" + c.Filename, Authorization: "Bearer " + tok, ContentLength: c.Filesize})
	want := Grant{Scheme: SchemeToken, ContentType: c.Filetype, Size: c.Filesize, Subject: c.Sub, Filename: c.Filename, Slot: c.Slot}
	if c.Expires != 0 {
		want.FileExpires = time.Unix(c.Expires, 0)
	}
	if err != nil || g != want {
		t.Errorf("token for %q: %+v, %v; want %+v", c.Filename, g, err, want)
	}
	parsed, err := v.parseToken(tok)
	if err != nil || parsed.Claims != c {
		t.Errorf("parseToken: %+v, %v; want %+v", parsed.Claims, err, c)
	}
}

// TestProsodyVectors checks tokens and URLs made by Prosody's own code
// (testdata/prosody_vectors.sh): the slot URL maps through FilePath to the
// path the token and MACs cover.
func TestProsodyVectors(t *testing.T) {
	seen := map[string]int{}
	for _, f := range readVectors(t, "testdata/prosody_vectors.txt") {
		seen[f[0]]++
		secret, urlPath := f[1], f[2]
		switch f[0] {
		case "token":
			c := Claims{Sub: f[3], Iat: atoi(t, f[4]), Exp: atoi(t, f[5]), Slot: f[6], Filename: f[8], Filesize: atoi(t, f[9]), Filetype: f[10]}
			if f[7] != "" {
				c.Expires = atoi(t, f[7])
			}
			tok := f[11]
			prefix := urlPath[:strings.Index(urlPath, "/"+c.Slot+"/")+1]
			fp, err := FilePath(urlPath, prefix)
			if err != nil || fp != c.Slot+"/"+c.Filename {
				t.Errorf("FilePath(%q, %q) = %q, %v", urlPath, prefix, fp, err)
			}
			checkTokenVector(t, secret, tok, c)
			v := NewVerifier(Options{Secret: secret, Now: func() time.Time { return time.Unix(c.Exp+1, 0) }})
			if _, err := v.Verify(Request{FilePath: fp, Authorization: "Bearer " + tok, ContentLength: c.Filesize}); Reason(err) != "token_expired" {
				t.Errorf("token after exp: %v, want token_expired", err)
			}
		case "ext_v1", "ext_v2":
			fp, err := FilePath(urlPath, "/upload/")
			if err != nil {
				t.Fatalf("FilePath(%q): %v", urlPath, err)
			}
			size := atoi(t, f[3])
			req := Request{Method: "PUT", FilePath: fp, ContentLength: size}
			want := Grant{Scheme: SchemeV1, Size: size}
			if f[0] == "ext_v1" {
				if got := SignV1(secret, fp, size); got != f[4] {
					t.Errorf("SignV1(%q) = %s, Prosody %s", fp, got, f[4])
				}
				req.Query = query("v", f[4])
			} else {
				if got := SignV2(secret, fp, size, f[4]); got != f[5] {
					t.Errorf("SignV2(%q) = %s, Prosody %s", fp, got, f[5])
				}
				req.Query, req.ContentType, req.HasContentType = query("v2", f[5]), f[4], true
				want = Grant{Scheme: SchemeV2, ContentType: f[4], Size: size}
			}
			g, err := NewVerifier(Options{Secret: secret}).Verify(req)
			if err != nil || g != want {
				t.Errorf("%s %q: %+v, %v; want %+v", f[0], urlPath, g, err, want)
			}
		default:
			t.Errorf("unknown vector kind %q", f[0])
		}
	}
	for _, k := range []string{"token", "ext_v1", "ext_v2"} {
		if seen[k] == 0 {
			t.Errorf("no %s vectors", k)
		}
	}
}
