package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"

	"fileserver/internal/config"
	"fileserver/internal/ops"
)

// takedownServer is a test server whose uploads are checked against takedowns kept in its
// data directory, with resumable uploads on or off.
func takedownServer(t *testing.T, resumable bool) (*testServer, *ops.Takedowns) {
	t.Helper()
	dir := t.TempDir()
	root := openRoot(t, dir)
	book, err := ops.OpenFileBook(root, "takedowns.json")
	if err != nil {
		t.Fatal(err)
	}
	tds := ops.NewTakedowns(book)
	ts := startTestServer(t, serverSetup{ops: &ops.Ops{Takedowns: tds}}, func(c *config.Config) { c.Resumable.Enabled = resumable })
	return ts, tds
}

func takeDown(t *testing.T, tds *ops.Takedowns, td ops.Takedown) {
	t.Helper()
	td.Reason = "test"
	if _, err := tds.Add(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

// A taken-down name (or a name under a taken-down prefix) is refused with 451 on every path an
// upload can take, before its body is stored, and nothing of it is kept.
func TestTakedownRefusedOnEveryUploadPath(t *testing.T) {
	body := pattern(1000, 3)
	n := strconv.Itoa(len(body))
	paths := []struct {
		name string
		send func(ts *testServer, name string) (*http.Response, []byte)
	}{
		{"v1 PUT", func(ts *testServer, name string) (*http.Response, []byte) {
			return put(t, ts.v1URL(name, len(body)), body)
		}},
		{"v2 PUT", func(ts *testServer, name string) (*http.Response, []byte) {
			return put(t, ts.v2URL(name, len(body), "application/octet-stream"), body, "Content-Type", "application/octet-stream")
		}},
		{"v3 PUT", func(ts *testServer, name string) (*http.Response, []byte) {
			return put(t, ts.v3URL(http.MethodPut, name), body)
		}},
		{"v3 POST", func(ts *testServer, name string) (*http.Response, []byte) {
			return do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, name), bytes.NewReader(body)))
		}},
		{"token PUT", func(ts *testServer, name string) (*http.Response, []byte) {
			slot, file := splitName(name)
			return put(t, ts.fileURL(name), body, "Authorization", bearer(tokenClaims(slot, file, len(body))))
		}},
	}
	resumablePaths := []struct {
		name string
		send func(ts *testServer, name string) (*http.Response, []byte)
	}{
		{"tus creation", func(ts *testServer, name string) (*http.Response, []byte) {
			slot, file := splitName(name)
			return do(t, request(t, http.MethodPost, ts.URL+"/files/", nil, "Tus-Resumable", tusVer, "Upload-Length", n,
				"Authorization", bearer(tokenClaims(slot, file, len(body)))))
		}},
		{"tus creation with upload", func(ts *testServer, name string) (*http.Response, []byte) {
			slot, file := splitName(name)
			return do(t, request(t, http.MethodPost, ts.URL+"/files/", bytes.NewReader(body), "Tus-Resumable", tusVer,
				"Upload-Length", n, "Content-Type", "application/offset+octet-stream",
				"Authorization", bearer(tokenClaims(slot, file, len(body)))))
		}},
		{"IETF creation", func(ts *testServer, name string) (*http.Response, []byte) {
			slot, file := splitName(name)
			return do(t, request(t, http.MethodPost, ts.URL+"/files/", bytes.NewReader(body), "Upload-Draft-Interop-Version", "8",
				"Upload-Complete", "?1", "Authorization", bearer(tokenClaims(slot, file, len(body)))))
		}},
	}
	for _, resumable := range []bool{true, false} {
		all := paths
		if resumable {
			all = append(all, resumablePaths...)
		}
		for _, by := range []string{"path", "prefix"} {
			for _, p := range all {
				t.Run(p.name+"/"+by+"/resumable="+strconv.FormatBool(resumable), func(t *testing.T) {
					ts, tds := takedownServer(t, resumable)
					name := "blocked/photo.jpg"
					if by == "path" {
						takeDown(t, tds, ops.Takedown{Path: name})
					} else {
						takeDown(t, tds, ops.Takedown{Prefix: "blocked/"})
					}
					resp, rb := p.send(ts, name)
					wantStatus(t, resp, rb, http.StatusUnavailableForLegalReasons)
					ts.assertNotStored(t, name)
					// Another name is not affected.
					other := "open/photo.jpg"
					resp, rb = p.send(ts, other)
					if resp.StatusCode >= 300 {
						t.Fatalf("upload to %s beside the takedown: %s %s", other, resp.Status, rb)
					}
				})
			}
		}
	}
}

// A takedown made while an upload streams refuses its commit: the last PATCH gets 451 and
// the name stays empty.
func TestTakedownDuringResumableUpload(t *testing.T) {
	ts, tds := takedownServer(t, true)
	body := pattern(2000, 9)
	resp, rb := do(t, request(t, http.MethodPost, ts.URL+"/files/", nil, "Tus-Resumable", tusVer, "Upload-Length", "2000",
		"Authorization", bearer(tokenClaims("late", "clip.mp4", len(body)))))
	wantStatus(t, resp, rb, http.StatusCreated)
	u := resp.Header.Get("Location")
	p, pb := tusPatch(t, u, 0, body[:1000])
	wantStatus(t, p, pb, http.StatusNoContent)
	takeDown(t, tds, ops.Takedown{Path: "late/clip.mp4"})
	p, pb = tusPatch(t, u, 1000, body[1000:])
	wantStatus(t, p, pb, http.StatusUnavailableForLegalReasons)
	ts.assertNotStored(t, "late/clip.mp4")
}

// Lifting a takedown lets the name be uploaded again.
func TestTakedownLifted(t *testing.T) {
	ts, tds := takedownServer(t, false)
	body := pattern(10, 1)
	td, err := tds.Add(context.Background(), ops.Takedown{Path: "x/y.txt", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	resp, rb := put(t, ts.v1URL("x/y.txt", len(body)), body)
	wantStatus(t, resp, rb, http.StatusUnavailableForLegalReasons)
	if _, ok, err := tds.Lift(context.Background(), td.ID); !ok || err != nil {
		t.Fatalf("Lift: %v %v", ok, err)
	}
	resp, rb = put(t, ts.v1URL("x/y.txt", len(body)), body)
	wantStatus(t, resp, rb, http.StatusCreated)
}

// splitName is a name's slot (its directory) and file name, for tokens.
func splitName(name string) (string, string) {
	i := bytes.LastIndexByte([]byte(name), '/')
	return name[:i], name[i+1:]
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
