package handlers_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Every interop version of the IETF draft this server speaks, 3 (draft -01, iOS 17) to 8
// (draft -09 on, iOS 26), driven with the exchanges each draft's own text shows.

// version is what a client of one interop version puts on the wire.
type version struct {
	n int
	// field is the completion header: Upload-Incomplete in version 3, Upload-Complete after.
	field string
	// partialType: appends must be application/partial-upload (version 6 on).
	partialType bool
	// appendStatus answers an append that leaves the upload incomplete.
	appendStatus int
	// refuses: HEAD and DELETE must refuse Upload-Offset and completion fields (through 6).
	refuses bool
	// absentCompletes: an append without a completion field completes (through 6).
	absentCompletes bool
	// lifetime is Upload-Limit's key for the resource's remaining lifetime ("" before 6,
	// which has no Upload-Limit).
	lifetime string
}

var versions = []version{
	{n: 3, field: "Upload-Incomplete", appendStatus: http.StatusCreated, refuses: true, absentCompletes: true},
	{n: 4, field: "Upload-Complete", appendStatus: http.StatusCreated, refuses: true, absentCompletes: true},
	{n: 5, field: "Upload-Complete", appendStatus: http.StatusCreated, refuses: true, absentCompletes: true},
	{n: 6, field: "Upload-Complete", partialType: true, appendStatus: http.StatusCreated, refuses: true,
		absentCompletes: true, lifetime: "expires"},
	{n: 7, field: "Upload-Complete", partialType: true, appendStatus: http.StatusNoContent, lifetime: "max-age"},
	{n: 8, field: "Upload-Complete", partialType: true, appendStatus: http.StatusNoContent, lifetime: "max-age"},
}

// state is the completion field's value for complete in this version.
func (v version) state(complete bool) string {
	if v.field == "Upload-Incomplete" {
		complete = !complete
	}
	if complete {
		return "?1"
	}
	return "?0"
}

func (v version) hdr(kv ...string) []string {
	return append([]string{"Upload-Draft-Interop-Version", strconv.Itoa(v.n)}, kv...)
}

// wantState checks a response's completion state in this version's field, and that the
// other version's field is absent.
func (v version) wantState(t *testing.T, resp *http.Response, complete bool) {
	t.Helper()
	wantHeader(t, resp, v.field, v.state(complete))
	other := "Upload-Complete"
	if v.field == other {
		other = "Upload-Incomplete"
	}
	if got := resp.Header.Get(other); got != "" {
		t.Errorf("version %d response carries %s: %s", v.n, other, got)
	}
}

// The whole file in one creation request: a 104 naming the client's version and the upload
// resource, then 201 with the offset (every draft's first creation example).
func TestIETFVersionsCreateComplete(t *testing.T) {
	ts := newTestServer(t)
	for _, v := range versions {
		t.Run(strconv.Itoa(v.n), func(t *testing.T) {
			data := pattern(100, byte(v.n))
			var in interim
			req := in.trace(request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(data),
				v.hdr(v.field, v.state(true))...))
			resp, body := do(t, req)
			wantStatus(t, resp, body, http.StatusCreated)
			h104 := in.only104(t)
			if got := h104.Get("Upload-Draft-Interop-Version"); got != strconv.Itoa(v.n) {
				t.Fatalf("104 Upload-Draft-Interop-Version %q, want %d", got, v.n)
			}
			loc := resp.Header.Get("Location")
			if h104.Get("Location") != loc || !strings.HasPrefix(loc, ts.URL+"/files/") {
				t.Fatalf("104 Location %q, final Location %q", h104.Get("Location"), loc)
			}
			if lim := h104.Get("Upload-Limit"); v.lifetime != "" && !strings.Contains(lim, v.lifetime+"=") {
				t.Fatalf("104 Upload-Limit %q lacks %s", lim, v.lifetime)
			}
			wantHeader(t, resp, "Upload-Offset", "100")
			v.wantState(t, resp, true)
			wantGetSHA256(t, loc, data)
		})
	}
}

// An upload in parts: creation with the first part, offset retrieval, an append that does not
// complete, and a completing append, each answered in the client's version.
func TestIETFVersionsResume(t *testing.T) {
	ts := newTestServer(t)
	for _, v := range versions {
		t.Run(strconv.Itoa(v.n), func(t *testing.T) {
			data := pattern(300, byte(v.n+10))
			resp, body := do(t, request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(data[:25]),
				v.hdr(v.field, v.state(false))...))
			wantStatus(t, resp, body, http.StatusCreated)
			wantHeader(t, resp, "Upload-Offset", "25")
			v.wantState(t, resp, false)
			u := resp.Header.Get("Location")

			h, hb := do(t, request(t, http.MethodHead, u, nil, v.hdr()...))
			wantStatus(t, h, hb, http.StatusNoContent)
			wantHeader(t, h, "Upload-Offset", "25")
			wantHeader(t, h, "Cache-Control", "no-store")
			v.wantState(t, h, false)
			lim := h.Header.Get("Upload-Limit")
			if v.lifetime != "" && !strings.Contains(lim, v.lifetime+"=") {
				t.Fatalf("HEAD Upload-Limit %q lacks %s", lim, v.lifetime)
			}
			if v.lifetime == "expires" && strings.Contains(lim, "max-age") {
				t.Fatalf("HEAD Upload-Limit %q: version 6 names the lifetime expires", lim)
			}

			// Before version 6 an append has no required media type (draft -01's example
			// sends none); from 6 on it must be application/partial-upload.
			patch := func(off int, part []byte, complete bool, kv ...string) (*http.Response, []byte) {
				hdr := v.hdr(append([]string{"Upload-Offset", strconv.Itoa(off), v.field, v.state(complete)}, kv...)...)
				return do(t, request(t, http.MethodPatch, u, bytes.NewReader(part), hdr...))
			}
			p, pb := patch(25, data[25:100], false)
			if v.partialType {
				wantStatus(t, p, pb, http.StatusUnsupportedMediaType)
				v.wantState(t, p, false)
				p, pb = patch(25, data[25:100], false, "Content-Type", "application/partial-upload")
			}
			wantStatus(t, p, pb, v.appendStatus)
			wantHeader(t, p, "Upload-Offset", "100")
			v.wantState(t, p, false)

			// A stale offset: 409 with the right one, as problem details, like every failure
			// closing the connection its unread body was on.
			p, pb = patch(25, data[25:], true, "Content-Type", "application/partial-upload")
			wantStatus(t, p, pb, http.StatusConflict)
			wantHeader(t, p, "Upload-Offset", "100")
			v.wantState(t, p, false)
			wantProblem(t, p, pb, ietfProblemOffset)
			if !p.Close {
				t.Errorf("a refused append with a body kept its connection open")
			}

			// The last part. Through version 6 it may leave the completion field out, as the
			// append examples of drafts -01 to -05 do; from 7 on the field is required.
			p, pb = do(t, request(t, http.MethodPatch, u, bytes.NewReader(data[100:]),
				v.hdr("Upload-Offset", "100", "Content-Type", "application/partial-upload")...))
			if !v.absentCompletes {
				wantStatus(t, p, pb, http.StatusBadRequest)
				v.wantState(t, p, false)
				p, pb = patch(100, data[100:], true, "Content-Type", "application/partial-upload")
			}
			wantStatus(t, p, pb, http.StatusCreated)
			wantHeader(t, p, "Upload-Offset", "300")
			v.wantState(t, p, true)
			wantGetSHA256(t, u, data)

			// More bytes for a completed upload: 400 (drafts -04, -05 require it; later ones
			// recommend it) with the offset, the file untouched.
			p, pb = patch(300, []byte("more"), true, "Content-Type", "application/partial-upload")
			wantStatus(t, p, pb, http.StatusBadRequest)
			wantHeader(t, p, "Upload-Offset", "300")
			v.wantState(t, p, true)
			// The same bytes with no declared length (chunked) are no replay of a lost
			// completion either; an empty chunked body is, and gets the final answer again.
			chunked := func(body string) (*http.Response, []byte) {
				return do(t, request(t, http.MethodPatch, u, io.MultiReader(strings.NewReader(body)),
					v.hdr("Upload-Offset", "300", v.field, v.state(true), "Content-Type", "application/partial-upload")...))
			}
			p, pb = chunked("more")
			wantStatus(t, p, pb, http.StatusBadRequest)
			p, pb = chunked("")
			wantStatus(t, p, pb, http.StatusOK)
			v.wantState(t, p, true)
			wantGetSHA256(t, u, data)
		})
	}
}

// Through version 6, HEAD and DELETE must not carry Upload-Offset or a completion field and
// the server refuses them with 400, leaving the upload as it was; later versions dropped the
// rule.
func TestIETFVersionsStateFieldsOnHeadAndDelete(t *testing.T) {
	ts := newTestServer(t)
	for _, v := range versions {
		t.Run(strconv.Itoa(v.n), func(t *testing.T) {
			resp, body := do(t, request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(pattern(10, 1)),
				v.hdr(v.field, v.state(false))...))
			wantStatus(t, resp, body, http.StatusCreated)
			u := resp.Header.Get("Location")
			for _, extra := range [][]string{{"Upload-Offset", "10"}, {v.field, v.state(false)}, {"Upload-Length", "10"}} {
				h, hb := do(t, request(t, http.MethodHead, u, nil, v.hdr(extra...)...))
				d, db := do(t, request(t, http.MethodDelete, u, nil, v.hdr(extra...)...))
				if !v.refuses {
					wantStatus(t, h, hb, http.StatusNoContent)
					wantStatus(t, d, db, http.StatusNoContent)
					return
				}
				wantStatus(t, h, hb, http.StatusBadRequest)
				wantStatus(t, d, db, http.StatusBadRequest)
			}
			h, hb := do(t, request(t, http.MethodHead, u, nil, v.hdr()...))
			wantStatus(t, h, hb, http.StatusNoContent)
			wantHeader(t, h, "Upload-Offset", "10")
			d, db := do(t, request(t, http.MethodDelete, u, nil, v.hdr()...))
			wantStatus(t, d, db, http.StatusNoContent)
			h, hb = do(t, request(t, http.MethodHead, u, nil, v.hdr()...))
			wantStatus(t, h, hb, http.StatusNotFound)
		})
	}
}

// What iOS 17 adds to an ordinary XEP-0363 PUT: interop version 3 and Upload-Incomplete: ?0.
// The server offers resumption in version 3's terms and stores the file at its name.
func TestIETFVersion3UpgradedPut(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(50000, 36)
	var in interim
	req := in.trace(request(t, http.MethodPut, ts.v1URL("ios17/photo.heic", len(data)), bytes.NewReader(data),
		"Upload-Draft-Interop-Version", "3", "Upload-Incomplete", "?0"))
	resp, body := do(t, req)
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Incomplete", "?0")
	h104 := in.only104(t)
	wantHeader(t, &http.Response{Header: http.Header(h104)}, "Upload-Draft-Interop-Version", "3")
	ts.assertStored(t, "ios17/photo.heic", data)
}

// Requests that name no version, or one this server does not speak, get no 104 (every draft
// forbids it on a missing or mismatching version) but still upload. Upload-Incomplete alone is
// read as version 3. A request whose two completion fields disagree is refused before any
// byte is stored.
func TestIETFVersionsUnnamedAndMixed(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(1000, 37)
	for _, hdr := range [][]string{
		{"Upload-Incomplete", "?0"},
		{"Upload-Draft-Interop-Version", "2", "Upload-Complete", "?1"},
		{"Upload-Draft-Interop-Version", "9", "Upload-Complete", "?1"},
	} {
		var in interim
		resp, body := do(t, in.trace(request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(data), hdr...)))
		wantStatus(t, resp, body, http.StatusCreated)
		if len(in.codes) != 0 {
			t.Fatalf("%v: interim responses %v", hdr, in.codes)
		}
		if hdr[0] == "Upload-Incomplete" {
			wantHeader(t, resp, "Upload-Incomplete", "?0")
		} else {
			wantHeader(t, resp, "Upload-Complete", "?1")
		}
		wantGetSHA256(t, resp.Header.Get("Location"), data)
	}

	// Upload-Incomplete: ?1 alone opens an incomplete upload; appends in version 3 finish it.
	resp, body := do(t, request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(data[:400]),
		"Upload-Incomplete", "?1"))
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Incomplete", "?1")
	u := resp.Header.Get("Location")

	// Both fields, disagreeing, in either order of meaning: 400, nothing appended.
	for _, hdr := range [][]string{
		{"Upload-Complete", "?1", "Upload-Incomplete", "?1"},
		{"Upload-Complete", "?0", "Upload-Incomplete", "?0"},
	} {
		p, pb := do(t, request(t, http.MethodPatch, u, bytes.NewReader(data[400:]),
			append([]string{"Upload-Draft-Interop-Version", "3", "Upload-Offset", "400"}, hdr...)...))
		wantStatus(t, p, pb, http.StatusBadRequest)
	}
	// A version 7 append with no completion field is malformed, not a completion.
	p, pb := do(t, request(t, http.MethodPatch, u, bytes.NewReader(data[400:]),
		"Upload-Draft-Interop-Version", "7", "Upload-Offset", "400", "Content-Type", "application/partial-upload"))
	wantStatus(t, p, pb, http.StatusBadRequest)
	// A completion field sent twice is malformed, whichever line comes first: reading only
	// the first would commit a file cut short.
	for _, lines := range [][2]string{{"?1", "?0"}, {"?0", "?1"}} {
		for _, f := range []string{"Upload-Complete", "Upload-Incomplete"} {
			req := request(t, http.MethodPatch, u, bytes.NewReader(data[400:700]),
				"Upload-Draft-Interop-Version", "3", "Upload-Offset", "400")
			req.Header.Add(f, lines[0])
			req.Header.Add(f, lines[1])
			p, pb := do(t, req)
			wantStatus(t, p, pb, http.StatusBadRequest)
		}
	}
	h, hb := do(t, request(t, http.MethodHead, u, nil, "Upload-Draft-Interop-Version", "3"))
	wantStatus(t, h, hb, http.StatusNoContent)
	wantHeader(t, h, "Upload-Offset", "400")
	wantHeader(t, h, "Upload-Incomplete", "?1")

	p, pb = do(t, request(t, http.MethodPatch, u, bytes.NewReader(data[400:]),
		"Upload-Draft-Interop-Version", "3", "Upload-Offset", "400", "Upload-Incomplete", "?0"))
	wantStatus(t, p, pb, http.StatusCreated)
	wantHeader(t, p, "Upload-Incomplete", "?0")
	wantGetSHA256(t, u, data)
}
