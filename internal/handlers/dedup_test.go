package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"fileserver/internal/config"
)

func inodeOf(t *testing.T, ts *testServer, name string) (uint64, uint64) {
	t.Helper()
	st, err := os.Stat(filepath.Join(ts.dataDir, "files", name))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	return s.Ino, uint64(s.Nlink)
}

// The same photo sent again, by a PUT and by a resumable upload, is stored once; removing a
// name leaves the others whole. With dedup off each is a file of its own.
func TestDedupAcrossProtocols(t *testing.T) {
	data := pattern(300_000, 77)
	for _, dedup := range []bool{true, false} {
		t.Run("dedup="+strconv.FormatBool(dedup), func(t *testing.T) {
			ts := newTestServer(t, func(c *config.Config) { c.Storage.Dedup = dedup })
			ts.upload(t, "a/photo.jpg", data)
			resp, body := do(t, request(t, http.MethodPost, ts.URL+"/files/", nil, "Tus-Resumable", tusVer,
				"Upload-Length", strconv.Itoa(len(data)), "Authorization", bearer(tokenClaims("b", "photo.jpg", len(data)))))
			wantStatus(t, resp, body, http.StatusCreated)
			p, pb := tusPatch(t, resp.Header.Get("Location"), 0, data)
			wantStatus(t, p, pb, http.StatusNoContent)
			inoA, links := inodeOf(t, ts, "a/photo.jpg")
			inoB, _ := inodeOf(t, ts, "b/photo.jpg")
			if dedup != (inoA == inoB) || dedup && links != 2 || !dedup && links != 1 {
				t.Fatalf("inodes %d, %d with %d links", inoA, inoB, links)
			}
			if err := os.Remove(filepath.Join(ts.dataDir, "files", "a", "photo.jpg")); err != nil {
				t.Fatal(err)
			}
			wantGetSHA256(t, ts.fileURL("b/photo.jpg"), data)
		})
	}
}
