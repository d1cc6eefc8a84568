package hmacauth

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestV1(t *testing.T) {
	v := newTestVerifier()
	const fp, size = "user/random/deep/ä b+c.jpg", 12345
	good := SignV1(testSecret, fp, size)
	for _, tc := range []struct {
		name string
		fp   string
		mac  string
		cl   int64
		want error
	}{
		{"valid", fp, good, size, nil},
		{"upper-case hex", fp, strings.ToUpper(good), size, nil},
		{"mixed-case hex", fp, strings.ToUpper(good[:32]) + good[32:], size, nil},
		{"previous secret", fp, SignV1(oldSecret, fp, size), size, nil},
		{"zero length", fp, SignV1(testSecret, fp, 0), 0, nil},
		{"last digit wrong", fp, flipLast(good), size, ErrBadSignature},
		{"first digit wrong", fp, flipLast(good[:1]) + good[1:], size, ErrBadSignature},
		{"other size", fp, good, size + 1, ErrBadSignature},
		{"other path", "user/random/deep/ä b c.jpg", good, size, ErrBadSignature},
		{"wrong secret", fp, SignV1(badSecret, fp, size), size, ErrBadSignature},
		{"v2 MAC in v", fp, SignV2(testSecret, fp, size, ""), size, ErrBadSignature},
		{"not hex", fp, strings.Repeat("zz", 32), size, ErrBadSignature},
		{"too short", fp, good[:63], size, ErrBadSignature},
		{"too long", fp, good + "00", size, ErrBadSignature},
		{"empty", fp, "", size, ErrBadSignature},
		{"chunked", fp, good, -1, ErrLengthRequired},
		{"chunked and bad MAC", fp, "zz", -1, ErrLengthRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(Request{Method: "PUT", FilePath: tc.fp, Query: query("v", tc.mac), ContentLength: tc.cl})
			checkResult(t, g, err, tc.want, good)
			if err == nil {
				want := Grant{Scheme: SchemeV1, Size: tc.cl}
				if g != want {
					t.Errorf("Grant %+v, want %+v", g, want)
				}
			}
		})
	}
}

// TestV2Candidates walks every path of the content-type rule: the type as
// sent, without parameters, and the octet-stream and extension fallbacks
// that apply only when the sent type is absent, empty or octet-stream.
func TestV2Candidates(t *testing.T) {
	v := newTestVerifier()
	const size = 100
	for _, tc := range []struct {
		name     string
		fp       string
		signed   string // the type the slot was signed for
		sent     string
		hasSent  bool
		want     error
		wantType string
	}{
		{"as sent", "s/p.jpg", "image/jpeg", "image/jpeg", true, nil, "image/jpeg"},
		{"as sent, trimmed", "s/p.jpg", "image/jpeg", " \timage/jpeg  ", true, nil, "image/jpeg"},
		{"as sent with parameters", "s/n.txt", "text/plain; charset=utf-8", "text/plain; charset=utf-8", true, nil, "text/plain; charset=utf-8"},
		{"parameters stripped", "s/n.txt", "text/plain", "text/plain; charset=utf-8", true, nil, "text/plain"},
		{"parameters stripped, spaces", "s/n.txt", "text/plain", "text/plain ;charset=utf-8", true, nil, "text/plain"},
		{"absent -> octet-stream", "s/p.jpg", "application/octet-stream", "", false, nil, "application/octet-stream"},
		{"empty -> octet-stream", "s/p.jpg", "application/octet-stream", "", true, nil, "application/octet-stream"},
		{"absent -> extension", "s/p.jpg", "image/jpeg", "", false, nil, "image/jpeg"},
		{"empty -> extension", "s/p.jpg", "image/jpeg", "", true, nil, "image/jpeg"},
		{"blank -> extension", "s/p.jpg", "image/jpeg", "   ", true, nil, "image/jpeg"},
		{"octet-stream -> extension", "s/p.jpg", "image/jpeg", "application/octet-stream", true, nil, "image/jpeg"},
		{"octet-stream any case -> extension", "s/p.jpg", "image/jpeg", "Application/Octet-Stream", true, nil, "image/jpeg"},
		{"octet-stream with parameters -> extension", "s/x.ogg", "audio/ogg", "application/octet-stream; x=y", true, nil, "audio/ogg"},
		{"octet-stream with parameters -> octet-stream", "s/x.ogg", "application/octet-stream", "application/octet-stream; x=y", true, nil, "application/octet-stream"},
		{"deep path extension", "u/r/a/b/c.ogg", "audio/ogg", "", false, nil, "audio/ogg"},
		{"empty signed, empty sent", "s/p.jpg", "", "", true, nil, ""},
		{"empty signed, absent", "s/p.jpg", "", "", false, ErrBadSignature, ""},
		{"no extension fallback for another sent type", "s/p.jpg", "image/jpeg", "image/png", true, ErrBadSignature, ""},
		{"no octet-stream fallback for another sent type", "s/p.jpg", "application/octet-stream", "image/png", true, ErrBadSignature, ""},
		{"unknown extension", "s/p.xyz", "image/jpeg", "", false, ErrBadSignature, ""},
		{"parameters not added", "s/n.txt", "text/plain; charset=utf-8", "text/plain", true, ErrBadSignature, ""},
		{"case matters in the MAC", "s/p.jpg", "image/jpeg", "Image/JPEG", true, ErrBadSignature, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mac := SignV2(testSecret, tc.fp, size, tc.signed)
			g, err := v.Verify(Request{Method: "PUT", FilePath: tc.fp, Query: query("v2", mac),
				ContentLength: size, ContentType: tc.sent, HasContentType: tc.hasSent})
			checkResult(t, g, err, tc.want, mac)
			if err == nil {
				want := Grant{Scheme: SchemeV2, ContentType: tc.wantType, Size: size}
				if g != want {
					t.Errorf("Grant %+v, want %+v", g, want)
				}
			}
		})
	}
}

func TestV2CandidateList(t *testing.T) {
	v := newTestVerifier()
	for _, tc := range []struct {
		fp      string
		sent    string
		hasSent bool
		want    []string
	}{
		{"s/p.jpg", "", false, []string{"application/octet-stream", "image/jpeg"}},
		{"s/p.jpg", "", true, []string{"", "application/octet-stream", "image/jpeg"}},
		{"s/p.jpg", "application/octet-stream", true, []string{"application/octet-stream", "image/jpeg"}},
		{"s/p.bin", "application/octet-stream", true, []string{"application/octet-stream"}},
		{"s/p.bin", "", false, []string{"application/octet-stream"}},
		{"s/p", "", false, []string{"application/octet-stream"}},
		{"s/p.jpg", "image/jpeg", true, []string{"image/jpeg"}},
		{"s/p.jpg", "image/png", true, []string{"image/png"}},
		{"s/n.txt", "text/plain; charset=utf-8", true, []string{"text/plain; charset=utf-8", "text/plain"}},
		{"s/n.txt", "application/octet-stream; a=b", true, []string{"application/octet-stream; a=b", "application/octet-stream", "text/plain"}},
	} {
		got := v.v2Candidates(Request{FilePath: tc.fp, ContentType: tc.sent, HasContentType: tc.hasSent})
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("v2Candidates(%q, %q, %v) = %q, want %q", tc.fp, tc.sent, tc.hasSent, got, tc.want)
		}
	}
}

func TestV2(t *testing.T) {
	v := newTestVerifier()
	const fp, size, ct = "slot/ä ö.txt", 3, "text/plain"
	good := SignV2(testSecret, fp, size, ct)
	for _, tc := range []struct {
		name  string
		param string
		mac   string
		cl    int64
		want  error
	}{
		{"v2", "v2", good, size, nil},
		{"token alias", "token", good, size, nil},
		{"upper-case hex", "v2", strings.ToUpper(good), size, nil},
		{"previous secret", "v2", SignV2(oldSecret, fp, size, ct), size, nil},
		{"last digit wrong", "v2", flipLast(good), size, ErrBadSignature},
		{"other size", "v2", good, size + 1, ErrBadSignature},
		{"wrong secret", "v2", SignV2(badSecret, fp, size, ct), size, ErrBadSignature},
		{"v1 MAC in v2", "v2", SignV1(testSecret, fp, size), size, ErrBadSignature},
		{"not hex", "token", "g" + good[1:], size, ErrBadSignature},
		{"empty", "v2", "", size, ErrBadSignature},
		{"chunked", "v2", good, -1, ErrLengthRequired},
		{"chunked alias", "token", good, -1, ErrLengthRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(Request{Method: "PUT", FilePath: fp, Query: query(tc.param, tc.mac),
				ContentLength: tc.cl, ContentType: ct, HasContentType: true})
			checkResult(t, g, err, tc.want, good)
			if err == nil && g.Scheme != SchemeV2 {
				t.Errorf("scheme %q, want v2", g.Scheme)
			}
		})
	}
}

// A wrong MAC is explained in what an admin can act on (the secrets it was checked against,
// the size, the types tried), never with the MAC itself.
func TestWrongSecretMessage(t *testing.T) {
	v := newTestVerifier()
	mac := SignV2("another-secret-of-the-signer-0123456789", "a/b.jpg", 100, "image/jpeg")
	_, err := v.Verify(Request{Method: "PUT", FilePath: "a/b.jpg", Query: map[string][]string{"v2": {mac}}, ContentLength: 100,
		ContentType: "image/jpeg", HasContentType: true})
	msg := fmt.Sprint(err)
	for _, want := range []string{"configured secrets", "100 bytes", "image/jpeg", "another secret"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, mac) || strings.Contains(msg, "candidate") {
		t.Errorf("%q reveals the MAC or speaks of candidates", msg)
	}
}
