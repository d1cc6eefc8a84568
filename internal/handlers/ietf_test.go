package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"

	"fileserver/internal/testkit"
)

// The IETF "Resumable Uploads for HTTP" draft, interop version 8, at /files/.

const (
	ietfProblemOffset = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
	ietfProblemLength = "https://iana.org/assignments/http-problem-types#inconsistent-upload-length"
)

func nopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// interim records the 1xx responses of a request.
type interim struct {
	mu    sync.Mutex
	codes []int
	hdrs  []textproto.MIMEHeader
}

func (in *interim) trace(req *http.Request) *http.Request {
	return req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			in.mu.Lock()
			defer in.mu.Unlock()
			in.codes = append(in.codes, code)
			in.hdrs = append(in.hdrs, h)
			return nil
		},
	}))
}

// only104 returns the single 104 received, failing otherwise.
func (in *interim) only104(t *testing.T) textproto.MIMEHeader {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.codes) != 1 || in.codes[0] != 104 {
		t.Fatalf("interim responses %v, want one 104", in.codes)
	}
	return in.hdrs[0]
}

// ietfPost creates an upload at the signed creation URL with Upload-Complete: complete.
func (ts *testServer) ietfPost(t *testing.T, body []byte, complete string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	h := append([]string{"Upload-Draft-Interop-Version", "8", "Upload-Complete", complete}, hdr...)
	return do(t, request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(body), h...))
}

// ietfPatch appends body at off.
func ietfPatch(t *testing.T, u string, off int, body []byte, complete string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	h := append([]string{"Upload-Draft-Interop-Version", "8", "Upload-Complete", complete,
		"Content-Type", "application/partial-upload", "Upload-Offset", strconv.Itoa(off)}, hdr...)
	return do(t, request(t, http.MethodPatch, u, bytes.NewReader(body), h...))
}

func ietfHead(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, _ := do(t, request(t, http.MethodHead, u, nil, "Upload-Draft-Interop-Version", "8"))
	return resp
}

// wantProblem checks an RFC 9457 problem document of type typ and returns its members.
func wantProblem(t *testing.T, resp *http.Response, body []byte, typ string) map[string]any {
	t.Helper()
	wantHeader(t, resp, "Content-Type", "application/problem+json")
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("problem document %q: %v", body, err)
	}
	if doc["type"] != typ {
		t.Fatalf("problem type %v, want %s", doc["type"], typ)
	}
	return doc
}

// The whole file in one request: a 104 announces the upload resource before the body is
// read, and the final response is the target's, marked complete.
func TestIETFCreateComplete(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(300000, 31)
	var in interim
	req := in.trace(request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(data),
		"Upload-Draft-Interop-Version", "8", "Upload-Complete", "?1", "Content-Disposition", `attachment; filename="clip.mp4"`))
	resp, body := do(t, req)
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Complete", "?1")
	h104 := in.only104(t)
	loc := h104.Get("Location")
	if !strings.HasPrefix(loc, ts.URL+"/files/") {
		t.Fatalf("104 Location %q, want an absolute URL under /files/", loc)
	}
	if lim := h104.Get("Upload-Limit"); !strings.Contains(lim, "max-append-size=") || !strings.Contains(lim, "max-size=") {
		t.Fatalf("104 Upload-Limit %q lacks max-size or max-append-size", lim)
	}
	wantHeader(t, resp, "Location", loc)
	if resp.Header.Get("Tus-Resumable") != "" {
		t.Errorf("an IETF response carries Tus-Resumable")
	}
	var reply struct {
		URL    string `json:"url"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(body, &reply); err == nil && reply.SHA256 != "" && reply.SHA256 != testkit.SHA256(data) {
		t.Errorf("reply sha256 %s, want %s", reply.SHA256, testkit.SHA256(data))
	}
	ts.assertStored(t, uploadID(loc)+"/clip.mp4", data)
	wantGetSHA256(t, loc, data)

	// The completed upload answers HEAD as complete.
	h := ietfHead(t, loc)
	wantStatus(t, h, nil, http.StatusNoContent)
	wantHeader(t, h, "Upload-Complete", "?1")
	wantHeader(t, h, "Upload-Offset", strconv.Itoa(len(data)))

	// No interop version, no 104; the upload still works.
	var in2 interim
	req = in2.trace(request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(data), "Upload-Complete", "?1"))
	resp, body = do(t, req)
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Complete", "?1")
	if len(in2.codes) != 0 {
		t.Fatalf("interim responses %v without Upload-Draft-Interop-Version", in2.codes)
	}
	wantGetSHA256(t, resp.Header.Get("Location"), data)
}

func TestIETFCreateRefusals(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name string
		url  string
		hdr  []string
		want int
	}{
		{"no credential", ts.URL + "/files/", []string{"Upload-Complete", "?1"}, http.StatusForbidden},
		{"bad token", ts.URL + "/files/", []string{"Upload-Complete", "?1", "Authorization", "Bearer x.y.z"}, http.StatusUnauthorized},
		{"upload-complete not a boolean", ts.tusCreateURL(), []string{"Upload-Complete", "yes"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, request(t, http.MethodPost, tt.url, strings.NewReader("data"),
				append([]string{"Upload-Draft-Interop-Version", "8"}, tt.hdr...)...))
			wantStatus(t, resp, body, tt.want)
			wantHeader(t, resp, "Upload-Complete", "?0")
		})
	}
}

// An upload in several parts: creation, offset retrieval, appends, a replayed completion and
// cancellation, with the draft's conflict answers.
func TestIETFResumeFlow(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(100000, 32)
	resp, body := ts.ietfPost(t, data[:40000], "?0")
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Complete", "?0")
	wantHeader(t, resp, "Upload-Offset", "40000")
	u := resp.Header.Get("Location")
	if !strings.HasPrefix(u, ts.URL+"/files/") {
		t.Fatalf("Location %q", u)
	}

	h := ietfHead(t, u)
	wantStatus(t, h, nil, http.StatusNoContent)
	wantHeader(t, h, "Upload-Offset", "40000")
	wantHeader(t, h, "Upload-Complete", "?0")
	wantHeader(t, h, "Cache-Control", "no-store")
	if lim := h.Header.Get("Upload-Limit"); !strings.Contains(lim, "max-append-size=") {
		t.Fatalf("HEAD Upload-Limit %q lacks max-append-size", lim)
	}
	// Not served before it is complete.
	g, gb := get(t, u)
	wantStatus(t, g, gb, http.StatusNotFound)

	p, pb := do(t, request(t, http.MethodPatch, u, bytes.NewReader(data[40000:]), "Upload-Draft-Interop-Version", "8",
		"Upload-Complete", "?1", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "40000"))
	wantStatus(t, p, pb, http.StatusUnsupportedMediaType)
	wantHeader(t, p, "Upload-Complete", "?0")

	p, pb = ietfPatch(t, u, 30000, data[30000:], "?1")
	wantStatus(t, p, pb, http.StatusConflict)
	wantHeader(t, p, "Upload-Offset", "40000")
	wantHeader(t, p, "Upload-Complete", "?0")
	doc := wantProblem(t, p, pb, ietfProblemOffset)
	if doc["expected-offset"] != float64(40000) || doc["provided-offset"] != float64(30000) {
		t.Fatalf("problem members expected-offset %v provided-offset %v, want 40000 and 30000", doc["expected-offset"], doc["provided-offset"])
	}
	wantHeader(t, ietfHead(t, u), "Upload-Offset", "40000")

	p, pb = ietfPatch(t, u, 40000, data[40000:70000], "?0")
	if p.StatusCode/100 != 2 {
		t.Fatalf("PATCH ?0: status %d (%q)", p.StatusCode, pb)
	}
	wantHeader(t, p, "Upload-Complete", "?0")
	wantHeader(t, p, "Upload-Offset", "70000")

	p, pb = ietfPatch(t, u, 70000, data[70000:], "?1")
	if p.StatusCode/100 != 2 {
		t.Fatalf("completing PATCH: status %d (%q)", p.StatusCode, pb)
	}
	wantHeader(t, p, "Upload-Complete", "?1")
	ts.assertStored(t, uploadID(u), data)
	wantGetSHA256(t, u, data)

	// The completion's answer was lost: the client asks again, with no content.
	p, pb = ietfPatch(t, u, len(data), nil, "?1")
	if p.StatusCode/100 != 2 {
		t.Fatalf("replayed completion: status %d (%q)", p.StatusCode, pb)
	}
	wantHeader(t, p, "Upload-Complete", "?1")

	// Cancellation.
	resp, body = ts.ietfPost(t, data[:100], "?0")
	wantStatus(t, resp, body, http.StatusCreated)
	c := resp.Header.Get("Location")
	d, db := do(t, request(t, http.MethodDelete, c, nil, "Upload-Draft-Interop-Version", "8"))
	wantStatus(t, d, db, http.StatusNoContent)
	h = ietfHead(t, c)
	wantStatus(t, h, nil, http.StatusNotFound)
	p, pb = ietfPatch(t, c, 100, data[100:200], "?0")
	wantStatus(t, p, pb, http.StatusNotFound)
}

// Upload-Length and Content-Length with Upload-Complete: ?1 must agree: 400 with the
// inconsistent-length problem type, nothing appended.
func TestIETFInconsistentLength(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(1000, 33)
	resp, body := ts.ietfPost(t, data[:500], "?1", "Upload-Length", "1000")
	wantStatus(t, resp, body, http.StatusBadRequest)
	wantProblem(t, resp, body, ietfProblemLength)
	wantHeader(t, resp, "Upload-Complete", "?0")

	resp, body = ts.ietfPost(t, data[:500], "?0", "Upload-Length", "1000")
	wantStatus(t, resp, body, http.StatusCreated)
	u := resp.Header.Get("Location")
	wantHeader(t, ietfHead(t, u), "Upload-Length", "1000")
	p, pb := ietfPatch(t, u, 500, data[500:900], "?1")
	wantStatus(t, p, pb, http.StatusBadRequest)
	wantProblem(t, p, pb, ietfProblemLength)
	p, pb = ietfPatch(t, u, 500, data[500:], "?0", "Upload-Length", "999")
	wantStatus(t, p, pb, http.StatusBadRequest)
	wantProblem(t, p, pb, ietfProblemLength)
	wantHeader(t, ietfHead(t, u), "Upload-Offset", "500")
	p, pb = ietfPatch(t, u, 500, data[500:], "?1")
	if p.StatusCode/100 != 2 {
		t.Fatalf("completing PATCH: status %d (%q)", p.StatusCode, pb)
	}
	wantGetSHA256(t, u, data)
}

// What iOS URLSession adds to an ordinary upload: Upload-Complete and the interop version on
// the XEP-0363 PUT. The server offers resumption with 104 and stores the file at its name.
func TestIETFUpgradedPut(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(200000, 34)
	var in interim
	req := in.trace(request(t, http.MethodPut, ts.v1URL("ios/photo.jpg", len(data)), bytes.NewReader(data),
		"Upload-Draft-Interop-Version", "8", "Upload-Complete", "?1"))
	resp, body := do(t, req)
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Complete", "?1")
	h104 := in.only104(t)
	if loc := h104.Get("Location"); !strings.HasPrefix(loc, ts.URL+"/files/") {
		t.Fatalf("104 Location %q, want an absolute URL under /files/", loc)
	}
	ts.assertStored(t, "ios/photo.jpg", data)
}

// The upgraded PUT is interrupted; the client resumes at the 104's Location.
func TestIETFUpgradedPutResumed(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(100000, 35)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("ios/video.mp4", len(data))),
		"Content-Length", strconv.Itoa(len(data)), "Upload-Draft-Interop-Version", "8", "Upload-Complete", "?1"))
	r104, _ := rc.readResponse(http.MethodPut)
	if r104.StatusCode != 104 {
		t.Fatalf("first response %d, want 104", r104.StatusCode)
	}
	u := ts.URL + pathAndQuery(t, r104.Header.Get("Location"))
	const sent = 45000
	rc.write(string(data[:sent]))
	ts.waitPartialSize(t, uploadID(u), sent)
	rc.c.Close()

	h := ietfHead(t, u)
	wantStatus(t, h, nil, http.StatusNoContent)
	wantHeader(t, h, "Upload-Offset", strconv.Itoa(sent))
	wantHeader(t, h, "Upload-Complete", "?0")
	ts.assertNotStored(t, "ios/video.mp4")
	p, pb := ietfPatch(t, u, sent, data[sent:], "?1")
	if p.StatusCode/100 != 2 {
		t.Fatalf("completing PATCH: status %d (%q)", p.StatusCode, pb)
	}
	wantHeader(t, p, "Upload-Complete", "?1")
	ts.assertStored(t, "ios/video.mp4", data)
}

// A client that leaves Upload-Draft-Interop-Version out of a HEAD or DELETE on an upload it
// created through the draft gets the draft's answers, not tus's 412; a tus upload still
// needs Tus-Resumable.
func TestIETFHeadAndDeleteWithoutInteropVersion(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.ietfPost(t, pattern(5000, 33), "?0")
	wantStatus(t, resp, body, http.StatusCreated)
	u := resp.Header.Get("Location")
	h, hb := do(t, request(t, http.MethodHead, u, nil))
	wantStatus(t, h, hb, http.StatusNoContent)
	wantHeader(t, h, "Upload-Offset", "5000")
	wantHeader(t, h, "Upload-Complete", "?0")
	d, db := do(t, request(t, http.MethodDelete, u, nil))
	wantStatus(t, d, db, http.StatusNoContent)
	if g, gb := do(t, request(t, http.MethodHead, u, nil, "Upload-Draft-Interop-Version", "8")); g.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after DELETE: %d %q", g.StatusCode, gb)
	}

	tusURL := ts.tusNew(t, 10)
	h, hb = do(t, request(t, http.MethodHead, tusURL, nil))
	wantStatus(t, h, hb, http.StatusPreconditionFailed)
}
