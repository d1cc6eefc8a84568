package handlers_test

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"fileserver/internal/config"
	"fileserver/internal/scan"
	"fileserver/internal/testpeers"
)

// An upload clamd finds malware in is refused with 422 on every path, and nothing of it is
// stored; a clean one is stored. With clamd gone, uploads are refused (503) by default, or
// stored unscanned under on_unreachable = "accept".
func TestMalwareScanOnEveryPath(t *testing.T) {
	bad := pattern(200_000, 13)
	clean := pattern(200_001, 13)
	sock := testpeers.Clamd(t, testpeers.Signature{Name: "Fileserver.Test.Malware", Content: bad})
	paths := map[string]func(ts *testServer, name string, body []byte) (*http.Response, []byte){
		"v1 PUT": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			return put(t, ts.v1URL(name, len(body)), body)
		},
		"v3 POST": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			return do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, name), bytes.NewReader(body)))
		},
		"tus in two PATCHes": func(ts *testServer, name string, body []byte) (*http.Response, []byte) {
			resp, rb := do(t, request(t, http.MethodPost, ts.URL+"/files/", nil, "Tus-Resumable", tusVer,
				"Upload-Length", strconv.Itoa(len(body)), "Authorization", bearer(tokenClaims("slot", name[len("slot/"):], len(body)))))
			if resp.StatusCode != http.StatusCreated {
				return resp, rb
			}
			u := resp.Header.Get("Location")
			if p, pb := tusPatch(t, u, 0, body[:70_000]); p.StatusCode != http.StatusNoContent {
				return p, pb
			}
			return tusPatch(t, u, 70_000, body[70_000:])
		},
	}
	for _, resumable := range []bool{true, false} {
		for pname, send := range paths {
			if strings.HasPrefix(pname, "tus") && !resumable {
				continue
			}
			t.Run(pname+"/resumable="+strconv.FormatBool(resumable), func(t *testing.T) {
				sc := scan.New(scan.Options{Network: "unix", Address: sock})
				ts := startTestServer(t, serverSetup{scanner: sc}, func(c *config.Config) { c.Resumable.Enabled = resumable })
				resp, body := send(ts, "slot/bad.bin", bad)
				wantStatus(t, resp, body, http.StatusUnprocessableEntity)
				ts.assertNotStored(t, "slot/bad.bin")
				resp, body = send(ts, "slot/clean.bin", clean)
				if resp.StatusCode >= 300 {
					t.Fatalf("a clean file: %s %s", resp.Status, body)
				}
				ts.assertStored(t, "slot/clean.bin", clean)
				if sc.Counts.Infected.Load() != 1 || sc.Counts.Clean.Load() != 1 {
					t.Errorf("verdicts: %d infected, %d clean", sc.Counts.Infected.Load(), sc.Counts.Clean.Load())
				}
			})
		}
	}
	gone := filepath.Join(t.TempDir(), "gone.sock")
	for _, accept := range []bool{false, true} {
		t.Run("clamd down, accept="+strconv.FormatBool(accept), func(t *testing.T) {
			sc := scan.New(scan.Options{Network: "unix", Address: gone, Accept: accept})
			ts := startTestServer(t, serverSetup{scanner: sc})
			resp, body := put(t, ts.v1URL("slot/x.bin", len(clean)), clean)
			if accept {
				wantStatus(t, resp, body, http.StatusCreated)
			} else {
				wantStatus(t, resp, body, http.StatusServiceUnavailable)
				ts.assertNotStored(t, "slot/x.bin")
			}
		})
	}
}
