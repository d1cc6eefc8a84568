package handlers_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"fileserver/internal/config"
)

// An HTML page declared as a PNG is refused with 415 on every upload path and nothing of it is
// kept; a real PNG, and bytes of no known format, pass.
func TestTypeCheckOnEveryPath(t *testing.T) {
	html := []byte("<!DOCTYPE html><html><body><script>document.location='https://evil.example/'</script></body></html>")
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), pattern(400, 3)...)
	paths := map[string]func(ts *testServer, name string, body []byte) (*http.Response, []byte){
		"v2 PUT": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			return put(t, ts.v2URL(name, len(body), "image/png"), body, "Content-Type", "image/png")
		},
		"v1 PUT, type by name": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			return put(t, ts.v1URL(name, len(body)), body)
		},
		"token PUT": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			c := tokenClaims("slot", name[len("slot/"):], len(body))
			c.Filetype = "image/png"
			return put(t, ts.fileURL(name), body, "Authorization", bearer(c), "Content-Type", "image/png")
		},
		"tus": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			c := tokenClaims("slot", name[len("slot/"):], len(body))
			c.Filetype = "image/png"
			resp, rb := do(t, request(t, http.MethodPost, ts.URL+"/files/", nil, "Tus-Resumable", tusVer,
				"Upload-Length", strconv.Itoa(len(body)), "Authorization", bearer(c)))
			if resp.StatusCode != http.StatusCreated {
				return resp, rb
			}
			return tusPatch(t, resp.Header.Get("Location"), 0, body)
		},
		"v3 POST": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			return do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, name), bytes.NewReader(body), "Content-Type", "image/png"))
		},
	}
	for _, resumable := range []bool{true, false} {
		for pname, send := range paths {
			if pname == "tus" && !resumable {
				continue
			}
			t.Run(pname+"/resumable="+strconv.FormatBool(resumable), func(t *testing.T) {
				ts := startTestServer(t, serverSetup{checkTypes: true}, func(c *config.Config) { c.Resumable.Enabled = resumable })
				resp, body := send(ts, "slot/evil.png", html)
				wantStatus(t, resp, body, http.StatusUnsupportedMediaType)
				ts.assertNotStored(t, "slot/evil.png")
				resp, body = send(ts, "slot/real.png", png)
				if resp.StatusCode >= 300 {
					t.Fatalf("a real PNG: %s %s", resp.Status, body)
				}
				ts.assertStored(t, "slot/real.png", png)
			})
		}
	}
}
