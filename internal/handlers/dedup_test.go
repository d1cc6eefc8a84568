package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

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

// A deduplicated upload is served with its own time: the data file it shares (and that
// file's time) is the first uploader's, and would tell another that the same bytes were
// stored, and when.
func TestDedupedUploadServedWithItsOwnTime(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Storage.Dedup = true })
	secret := []byte("salary-2024: alice=123456 bob=654321")
	ts.upload(t, "victim/salaries.txt", secret) // someone's upload...
	yesterday := time.Now().Add(-30 * time.Hour)
	if err := os.Chtimes(filepath.Join(ts.dataDir, "files", "victim", "salaries.txt"), yesterday, yesterday); err != nil {
		t.Fatal(err) // ...made yesterday
	}
	// The attacker uploads a guess under a name of its own, then fetches it.
	resp, rb := put(t, ts.v1URL("attacker/guess.txt", len(secret)), secret)
	wantStatus(t, resp, rb, http.StatusCreated)
	g, gb := get(t, ts.fileURL("attacker/guess.txt"))
	wantStatus(t, g, gb, http.StatusOK)
	lm, err := http.ParseTime(g.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(lm) > time.Hour {
		t.Fatalf("my upload made just now is served with Last-Modified %s: the same bytes were stored by someone else %s ago",
			lm.UTC(), time.Since(lm).Round(time.Hour))
	}
}
