package handlers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"testing"
)

type postReply struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
}

func decodeReply(t *testing.T, resp *http.Response, body []byte) postReply {
	t.Helper()
	wantStatus(t, resp, body, http.StatusCreated)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var r postReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("reply %q: %v", body, err)
	}
	return r
}

func TestPostRawV3(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(5000, 30)
	sum := sha256.Sum256(body)
	resp, rb := do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, "p/raw.bin"), bytes.NewReader(body)))
	r := decodeReply(t, resp, rb)
	if r.URL != ts.fileURL("p/raw.bin") || r.Size != int64(len(body)) || r.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("reply %+v, want url %s size %d sha256 %x", r, ts.fileURL("p/raw.bin"), len(body), sum)
	}
	ts.assertStored(t, "p/raw.bin", body)
}

// A form posted to a directory URL stores the file under the name the form gives it.
func TestPostMultipartToDirectory(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		partName, stored string
	}{
		{"photo.jpg", "dir/photo.jpg"},
		{"../../escape.txt", "dir/escape.txt"},
		{`C:\Users\me\win.txt`, "dir/win.txt"},
	}
	for i, tt := range tests {
		t.Run(tt.partName, func(t *testing.T) {
			content := pattern(700+i, byte(40+i))
			var form bytes.Buffer
			mw := multipart.NewWriter(&form)
			mw.WriteField("comment", "not the file")
			fw, err := mw.CreateFormFile("file", tt.partName)
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(content)
			mw.Close()
			u := ts.URL + "/upload/dir/?" + v3Query(http.MethodPost, "/upload/dir/")
			resp, rb := do(t, request(t, http.MethodPost, u, &form, "Content-Type", mw.FormDataContentType()))
			r := decodeReply(t, resp, rb)
			if r.Name != tt.stored || r.URL != ts.fileURL(tt.stored) || r.Size != int64(len(content)) {
				t.Errorf("reply %+v, want name %s size %d", r, tt.stored, len(content))
			}
			ts.assertStored(t, tt.stored, content)
		})
	}
	ts.assertNotStored(t, "escape.txt")
	if top, _ := os.ReadDir(ts.parent); len(top) != 1 || top[0].Name() != "data" {
		t.Errorf("entries beside the data directory: %v", top)
	}
}

// POST is authorized by v3 or a token only: a v1 or v2 MAC does not name the method.
func TestPostRefusesV1V2(t *testing.T) {
	ts := newTestServer(t)
	body := []byte("posted")
	tests := []struct{ name, url string }{
		{"v1", ts.v1URL("p1.bin", len(body))},
		{"v2", ts.v2URL("p1.bin", len(body), "application/octet-stream")},
		{"v3 signed for PUT", ts.v3URL(http.MethodPut, "p1.bin")},
		{"none", ts.fileURL("p1.bin")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, rb := do(t, request(t, http.MethodPost, tt.url, bytes.NewReader(body), "Content-Type", "application/octet-stream"))
			wantStatus(t, resp, rb, http.StatusForbidden)
			ts.assertNotStored(t, "p1.bin")
		})
	}
}

// multipartBody is a form with one file part named filename.
func multipartBody(t *testing.T, filename string, content []byte) (*bytes.Buffer, string) {
	t.Helper()
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return &form, mw.FormDataContentType()
}

// The directory of a form POST obeys the same path rules as a PUT's file path: a 4xx for
// anything encoded or dotted, and nothing written.
func TestPostMultipartDirectoryPathRules(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct{ target, decoded string }{
		{"/upload/a%2fb/", "/upload/a/b/"},
		{"/upload/a%5cb/", `/upload/a\b/`},
		{"/upload/%2e%2e/", "/upload/../"},
		{"/upload/../", "/upload/../"},
		{"/upload/a%00b/", "/upload/a\x00b/"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			form, ctype := multipartBody(t, "f.txt", []byte("form"))
			req := ts.opaqueRequest(t, http.MethodPost, tt.target+"?"+v3Query(http.MethodPost, tt.decoded), form, "Content-Type", ctype)
			resp, rb := do(t, req)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("status %d (%q), want 4xx", resp.StatusCode, rb)
			}
		})
	}
	if tree := dirTree(t, ts.parent); !slices.Equal(tree, []string{".", "data", "data/files", "data/meta", "data/sessions", "data/tmp"}) {
		t.Errorf("POSTs left %v", tree)
	}
}

// A bearer token authorizes a POST too, and its filetype claim is the stored type.
func TestPostRawToken(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(321, 50)
	c := tokenClaims("s9", "pic.bin", len(body))
	c.Filetype = "image/webp"
	resp, rb := do(t, request(t, http.MethodPost, ts.fileURL("s9/pic.bin"), bytes.NewReader(body), "Authorization", bearer(c)))
	r := decodeReply(t, resp, rb)
	if r.ContentType != "image/webp" || r.Size != int64(len(body)) {
		t.Errorf("reply %+v, want image/webp, %d bytes", r, len(body))
	}
	g, gb := get(t, ts.fileURL("s9/pic.bin"))
	wantStatus(t, g, gb, http.StatusOK)
	if g.Header.Get("Content-Type") != "image/webp" || !bytes.Equal(gb, body) {
		t.Errorf("served %q, %d bytes", g.Header.Get("Content-Type"), len(gb))
	}
}

// curl --data-binary declares its default form type: a raw body is no form, and the file's
// name tells its type.
func TestPostRawBodyWithCurlsDefaultType(t *testing.T) {
	ts := newTestServer(t)
	resp, body := do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, "docs/report.pdf"), strings.NewReader("%PDF-1.7"),
		"Content-Type", "application/x-www-form-urlencoded"))
	wantStatus(t, resp, body, http.StatusCreated)
	if r := decodeReply(t, resp, body); r.ContentType != "application/pdf" {
		t.Fatalf("stored as %q, want application/pdf", r.ContentType)
	}
}

// A form POST under a Prosody token stores the type the token signed, as a raw POST, a PUT,
// tus and the IETF draft do, whatever its file part declares: the part's text/html would
// otherwise be served as such, and skip the check of media bytes.
func TestTokenFormPostStoresSignedType(t *testing.T) {
	ts := newTestServer(t)
	body := []byte("<html><script>alert(1)</script></html>")
	c := tokenClaims("s1", "pic.png", len(body))
	c.Filetype = "image/png"
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="pic.png"`)
	h.Set("Content-Type", "text/html")
	fw, _ := mw.CreatePart(h)
	fw.Write(body)
	mw.Close()
	resp, rb := do(t, request(t, http.MethodPost, ts.fileURL("s1/pic.png"), &form,
		"Authorization", bearer(c), "Content-Type", mw.FormDataContentType()))
	r := decodeReply(t, resp, rb)
	g, gb := get(t, ts.fileURL("s1/pic.png"))
	wantStatus(t, g, gb, http.StatusOK)
	if r.ContentType != "image/png" || g.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("token signed filetype image/png; stored %q, served %q", r.ContentType, g.Header.Get("Content-Type"))
	}
}
