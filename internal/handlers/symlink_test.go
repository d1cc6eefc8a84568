package handlers_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A symbolic link that another process or an admin planted in the storage tree and that
// leads outside it is answered 404, like a missing file (a 500 would fire the 5xx alert for
// something no request did), and the log names the path so the operator can remove it.
func TestPlantedSymlinkIsNotFound(t *testing.T) {
	var logs lockedBuffer
	ts := startTestServer(t, serverSetup{log: &logs})
	ts.upload(t, "real.bin", pattern(10, 1))
	files := filepath.Join(ts.dataDir, "files")
	secret := filepath.Join(ts.parent, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"evil.txt":     secret,
		"dangling.txt": "/nonexistent/x",
		"abs.bin":      filepath.Join(files, "real.bin"),
		"dir":          ts.parent,
	} {
		if err := os.Symlink(target, filepath.Join(files, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"evil.txt", "dangling.txt", "abs.bin", "dir/secret.txt"} {
		for _, hdr := range [][]string{nil, {"Range", "bytes=0-1"}} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := do(t, request(t, method, ts.fileURL(name), nil, hdr...))
				if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("secret")) {
					t.Errorf("%s %s %v: %d %q, want 404", method, name, hdr, resp.StatusCode, body)
				}
			}
		}
		if !strings.Contains(logs.String(), `"path":"`+name+`"`) {
			t.Errorf("no warning names %s; log:\n%s", name, logs.String())
		}
	}
	// A file reached through a link that stays inside the tree is served as before.
	if err := os.Symlink("real.bin", filepath.Join(files, "rel.bin")); err != nil {
		t.Fatal(err)
	}
	ts.assertStored(t, "rel.bin", pattern(10, 1))
}
