package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"fileserver/internal/config"
)

// FuzzResumableRoutes sends arbitrary requests to the resumable endpoint: any method, any
// path under /files/ (ids of every shape, the session id of a PUT, traversal attempts), any
// resumable headers and body, with no credential. Whatever arrives: no 5xx, no panic, and
// the session of a PUT in flight (reachable only with its name's signature) is never reached:
// its offset and length stay as they were, and nothing is committed in its name.
func FuzzResumableRoutes(f *testing.F) {
	ts := newTestServer(f, func(c *config.Config) { c.Upload.MaxSize = 1 << 20 })
	const victim = "victim/in-flight.bin"
	data := pattern(5000, 51)
	vu := ts.v1URL(victim, len(data))
	resp, body := rangePutTB(f, vu, "bytes 0-1999/5000", data[:2000])
	if resp.StatusCode != http.StatusNoContent {
		f.Fatalf("victim's first piece: %d %q", resp.StatusCode, body)
	}
	putID := ts.putSessionID(victim)
	tusID := func() string {
		req, _ := http.NewRequest(http.MethodPost, ts.tusCreateURL(), nil)
		req.Header.Set("Tus-Resumable", tusVer)
		req.Header.Set("Upload-Length", "100")
		rec := httptest.NewRecorder()
		ts.h.ServeHTTP(rec, req)
		u, _ := url.Parse(rec.Header().Get("Location"))
		return strings.TrimPrefix(u.Path, "/files/")
	}()

	methods := []string{http.MethodHead, http.MethodGet, http.MethodPatch, http.MethodDelete, http.MethodPost,
		http.MethodPut, http.MethodOptions}
	for _, seed := range []struct {
		method                           byte
		path, offset, length, concat, ct string
		ietf                             byte
		body                             []byte
	}{
		{0, putID, "", "", "", "", 0, nil},
		{2, putID, "2000", "", "", "application/offset+octet-stream", 0, []byte("attacker")},
		{2, putID, "2000", "999999", "", "application/offset+octet-stream", 0, nil},
		{3, putID, "", "", "", "", 6, nil},
		{2, putID, "2000", "", "", "application/partial-upload", 6, []byte("x")},
		{2, putID, "2000", "", "", "", 1, []byte("x")},
		{0, putID, "2000", "", "", "", 7, nil},
		{2, tusID, "0", "", "", "application/offset+octet-stream", 0, []byte("hello")},
		{2, tusID, "0", "", "", "", 1, []byte("hello")},
		{4, "", "", "100", "final;/files/" + putID, "", 0, nil},
		{4, "", "", "", "final;/files/" + tusID + " /files/" + putID, "", 0, nil},
		{1, "../upload/" + victim, "", "", "", "", 0, nil},
		{0, "%2e%2e/x", "", "", "", "", 0, nil},
		{2, tusID + "/x", "0", "", "", "", 0, nil},
	} {
		f.Add(seed.method, seed.path, seed.offset, seed.length, seed.concat, seed.ct, seed.ietf, seed.body)
	}
	// ietf, when not 0, makes it an IETF draft request: interop version 3 + ietf%6, with the
	// completion state left out, incomplete or complete by ietf/6%3 (a version 3 append that
	// leaves it out completes the upload).
	f.Fuzz(func(t *testing.T, m byte, path, offset, length, concat, ct string, ietf byte, body []byte) {
		target := "/files/" + path
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := httptest.NewRequest(methods[int(m)%len(methods)], "/", bytes.NewReader(body))
		req.URL, req.RequestURI = u, u.RequestURI()
		set := func(k, v string) {
			if v != "" && !strings.ContainsAny(v, "\r\n") {
				req.Header.Set(k, v)
			}
		}
		set("Tus-Resumable", tusVer)
		set("Upload-Offset", offset)
		set("Upload-Length", length)
		set("Upload-Concat", concat)
		set("Content-Type", ct)
		if ietf != 0 {
			v := 3 + int(ietf)%6
			set("Upload-Draft-Interop-Version", fmt.Sprint(v))
			if state := ietf / 6 % 3; state != 0 {
				complete := state == 2
				if v == 3 {
					set("Upload-Incomplete", map[bool]string{true: "?0", false: "?1"}[complete])
				} else {
					set("Upload-Complete", map[bool]string{true: "?1", false: "?0"}[complete])
				}
			}
		}
		rec := httptest.NewRecorder()
		ts.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %q", req.Method, target, rec.Code, rec.Body.String())
		}
		h := signedHeadTB(t, vu)
		if h.StatusCode != http.StatusOK || h.Header.Get("Upload-Offset") != "2000" || h.Header.Get("Upload-Length") != "5000" {
			t.Fatalf("%s %q reached the PUT's upload: HEAD on its signed URL now %d, Upload-Offset %q, Upload-Length %q",
				req.Method, target, h.StatusCode, h.Header.Get("Upload-Offset"), h.Header.Get("Upload-Length"))
		}
	})
}

// rangePutTB and signedHeadTB are rangePut and signedHead for any test or fuzz target.
func rangePutTB(t testing.TB, u, contentRange string, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	req.Header.Set("Content-Range", contentRange)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func signedHeadTB(t testing.TB, u string) *http.Response {
	t.Helper()
	resp, err := client.Head(u)
	if err != nil {
		t.Fatal(fmt.Errorf("HEAD on the signed URL: %w", err))
	}
	resp.Body.Close()
	return resp
}
