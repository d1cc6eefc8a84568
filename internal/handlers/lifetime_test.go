package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"fileserver/internal/config"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
)

// v3Soon is a v3 query for method on urlPath that expires in d.
func v3Soon(method, urlPath string, d time.Duration) string {
	exp := time.Now().Add(d).Unix()
	return "v3=" + hmacauth.SignV3(testSecret, method, urlPath, exp) + "&expires=" + strconv.FormatInt(exp, 10)
}

// A v3 URL's expiry is the URL's lifetime, not the file's: files uploaded with a URL valid for
// seconds are still there long after, whatever the path (PUT, POST, tus, IETF).
func TestURLExpiryIsNotTheFilesLifetime(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Auth.ClockSkew = 0 })
	data := pattern(1000, 61)
	resp, body := put(t, ts.fileURL("keep/put.pdf")+"?"+v3Soon(http.MethodPut, "/upload/keep/put.pdf", 5*time.Second), data)
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = do(t, request(t, http.MethodPost, ts.fileURL("keep/post.pdf")+"?"+v3Soon(http.MethodPost, "/upload/keep/post.pdf", 5*time.Second), bytes.NewReader(data)))
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = do(t, request(t, http.MethodPost, ts.URL+"/files/?"+v3Soon(http.MethodPost, "/files/", 5*time.Second), bytes.NewReader(data),
		"Tus-Resumable", tusVer, "Upload-Length", "1000", "Content-Type", "application/offset+octet-stream"))
	wantStatus(t, resp, body, http.StatusCreated)
	tusFile := uploadID(resp.Header.Get("Location"))

	store, err := storage.OpenLocal(ts.dataDir, storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	res, err := store.Reap(context.Background(), time.Now().Add(24*time.Hour), 0, false)
	if err != nil || len(res.Files) != 0 {
		t.Fatalf("a day later the reaper removed %v (%v); the URLs' expiry is not the files'", res.Files, err)
	}
	ts.assertStored(t, "keep/put.pdf", data)
	ts.assertStored(t, "keep/post.pdf", data)
	wantGetSHA256(t, ts.URL+"/files/"+tusFile, data)
}

// The URL's expiry does bound when an upload it created may be resumed.
func TestURLExpiryBoundsResumption(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Auth.ClockSkew = 0 })
	resp, body := do(t, request(t, http.MethodPost, ts.URL+"/files/?"+v3Soon(http.MethodPost, "/files/", time.Second), nil,
		"Tus-Resumable", tusVer, "Upload-Length", "1000"))
	wantStatus(t, resp, body, http.StatusCreated)
	u := resp.Header.Get("Location")
	// The client is told the URL's deadline, not the session's day.
	if exp, err := http.ParseTime(resp.Header.Get("Upload-Expires")); err != nil || exp.After(time.Now().Add(time.Minute)) {
		t.Fatalf("Upload-Expires %q (%v), want the URL's expiry a second from now", resp.Header.Get("Upload-Expires"), err)
	}
	p, pb := tusPatch(t, u, 0, pattern(400, 62))
	wantStatus(t, p, pb, http.StatusNoContent)
	time.Sleep(2100 * time.Millisecond) // the URL's expiry is in whole seconds
	p, pb = tusPatch(t, u, 400, pattern(600, 63))
	wantStatus(t, p, pb, http.StatusGone)
}
