package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"fileserver/internal/config"
	"fileserver/internal/handlers"
)

// Links the server hands out (Location of a PUT, a POST's JSON url, tus and IETF upload URLs,
// Content-Location) start with server.public_url or, without one, the listen address: a
// client that sends another Host cannot plant its host in links that chat clients store and
// share.
func TestLinksIgnoreHostHeader(t *testing.T) {
	for _, public := range []string{"", "https://upload.example.org"} {
		t.Run("public_url="+public, func(t *testing.T) {
			ts := newTestServer(t, func(c *config.Config) { c.Server.PublicURL = public })
			want := ts.URL
			if public != "" {
				want = public
			}
			const evil = "evil.example"
			check := func(what, link string) {
				t.Helper()
				if !strings.HasPrefix(link, want+"/") || strings.Contains(link, evil) {
					t.Errorf("%s %q, want a link under %s/", what, link, want)
				}
			}
			send := func(req *http.Request) (*http.Response, []byte) {
				req.Host = evil
				return do(t, req)
			}

			resp, body := send(request(t, http.MethodPut, ts.v1URL("a.bin", 3), strings.NewReader("abc")))
			wantStatus(t, resp, body, http.StatusCreated)
			check("PUT Location", resp.Header.Get("Location"))

			resp, body = send(request(t, http.MethodPost, ts.v3URL(http.MethodPost, "b.bin"), strings.NewReader("abc")))
			wantStatus(t, resp, body, http.StatusCreated)
			var reply struct{ URL string }
			if err := json.Unmarshal(body, &reply); err != nil {
				t.Fatal(err)
			}
			check("POST url", reply.URL)

			resp, body = send(request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader([]byte("xyz")),
				"Tus-Resumable", tusVer, "Upload-Length", "3", "Content-Type", "application/offset+octet-stream"))
			wantStatus(t, resp, body, http.StatusCreated)
			check("tus Location", resp.Header.Get("Location"))

			resp, body = send(request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader([]byte("xyz")),
				"Upload-Draft-Interop-Version", "8", "Upload-Complete", "?1"))
			wantStatus(t, resp, body, http.StatusCreated)
			check("IETF Location", resp.Header.Get("Location"))
			check("IETF Content-Location", resp.Header.Get("Content-Location"))
		})
	}
}

func TestLinkHost(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"192.0.2.7:8080": false, "0.0.0.0:8080": false, ":8080": false, "[::]:8080": false,
	} {
		host, loopback := handlers.LinkHost(listen)
		if loopback != want {
			t.Errorf("LinkHost(%q): loopback %v, want %v", listen, loopback, want)
		}
		if strings.HasPrefix(host, "0.0.0.0") || strings.HasPrefix(host, ":") || strings.HasPrefix(host, "[::]") {
			t.Errorf("LinkHost(%q) = %q: not an address clients can reach", listen, host)
		}
		if !strings.HasSuffix(host, ":8080") {
			t.Errorf("LinkHost(%q) = %q: the port is lost", listen, host)
		}
	}
}
