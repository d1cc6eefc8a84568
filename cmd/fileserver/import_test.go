package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fileserver/internal/storage"
	"fileserver/internal/testkit"
)

// tree writes files (relative path -> content) under dir, each with a modification time a
// day back, as an old server's uploads.
func tree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	old := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
}

// snapshot is every entry of dir with its mode, size, time and digest: what must not change.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		fmt.Fprintf(&b, "%s %v %d %d", p, info.Mode(), info.Size(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func getRange(t *testing.T, method, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// A tree as each server lays it out is adopted: every old URL answers the same bytes (whole,
// by Range, and HEAD), with the type its name says; what cannot be adopted is listed with why;
// the old tree is not changed; a second run does nothing; the files are hard links.
func TestImportKeepsEveryURL(t *testing.T) {
	for _, from := range []string{"prosody-filer", "hmac-file-server"} {
		t.Run(from, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "store")
			files := map[string][]byte{
				"3f2a9c/photo.jpg":         testkit.Random(t, 70_000),
				"3f2a9c/voice message.ogg": testkit.Random(t, 10_000),
				"b8d/report.pdf":           testkit.Random(t, 3),
				"deep/a/b/c/clip.mp4":      testkit.Random(t, 200_000),
				"x/lonely.thumb.jpg":       testkit.Random(t, 500), // a user's file (no image beside it)
			}
			tree(t, src, files)
			// A thumbnail beside its image is hmac-file-server's own; for prosody-filer it is a file.
			thumb := map[string][]byte{"3f2a9c/photo.thumb.jpg": testkit.Random(t, 300)}
			tree(t, src, thumb)
			if from == "hmac-file-server" {
				tree(t, src, map[string][]byte{".metadata/files.db": []byte("SQLite format 3\x00"), ".upload_sessions/s1/chunk_0": []byte("x")})
			} else {
				files["3f2a9c/photo.thumb.jpg"] = thumb["3f2a9c/photo.thumb.jpg"]
			}
			os.Symlink("/etc/passwd", filepath.Join(src, "3f2a9c", "link.txt"))
			syscall.Mkfifo(filepath.Join(src, "b8d", "fifo"), 0o644)
			before := snapshot(t, src)

			data := filepath.Join(t.TempDir(), "data")
			env := []string{"FILESERVER_STORAGE_PATH=" + data, "FILESERVER_AUTH_SECRET=" + strings.Repeat("s", 32)}
			out, errOut, code := runCLI(t, env, "import", "--from", from, "--source", src, "--dry-run")
			if code != 0 || !strings.Contains(out, fmt.Sprintf("would import %d files", len(files))) ||
				!strings.Contains(out, "skip 3f2a9c/link.txt: a symbolic link") || !strings.Contains(out, "skip b8d/fifo: not a regular file") {
				t.Fatalf("dry run (%d): %s %s", code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(data, "files")); err == nil {
				t.Fatal("a dry run stored files")
			}
			out, errOut, code = runCLI(t, env, "import", "--from", from, "--source", src)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("imported %d files, 0 were there already", len(files))) {
				t.Fatalf("import (%d): %s %s", code, out, errOut)
			}
			if from == "hmac-file-server" && (!strings.Contains(out, "skip .metadata/: hmac-file-server's metadata database") ||
				!strings.Contains(out, "skip .upload_sessions/") || !strings.Contains(out, "skip 3f2a9c/photo.thumb.jpg: hmac-file-server's thumbnail")) {
				t.Errorf("hmac-file-server's own state not listed: %s", out)
			}
			out, _, code = runCLI(t, env, "import", "--from", from, "--source", src)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("imported 0 files, %d were there already", len(files))) {
				t.Fatalf("second run (%d): %s", code, out)
			}
			if after := snapshot(t, src); after != before {
				t.Fatalf("the old tree changed:\n%s\n---\n%s", before, after)
			}
			a, _ := os.Stat(filepath.Join(src, "deep/a/b/c/clip.mp4"))
			b, _ := os.Stat(filepath.Join(data, "files", "deep/a/b/c/clip.mp4"))
			if !os.SameFile(a, b) {
				t.Error("the imported file is not a hard link to the old one")
			}

			s := startServer(t, env)
			for name, want := range files {
				u := "http://" + s.addr + "/upload/" + strings.ReplaceAll(name, " ", "%20")
				resp, got := getRange(t, http.MethodGet, u, "")
				if resp.StatusCode != 200 || !bytes.Equal(got, want) {
					t.Errorf("GET %s: %s, %d bytes", name, resp.Status, len(got))
					continue
				}
				if ct := resp.Header.Get("Content-Type"); strings.HasSuffix(name, ".jpg") && ct != "image/jpeg" || strings.HasSuffix(name, ".ogg") && ct != "audio/ogg" {
					t.Errorf("GET %s: Content-Type %q", name, ct)
				}
				if len(want) > 2 {
					resp, got = getRange(t, http.MethodGet, u, "bytes=1-")
					if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want[1:]) {
						t.Errorf("Range GET %s: %s", name, resp.Status)
					}
				}
				resp, _ = getRange(t, http.MethodHead, u, "")
				if resp.StatusCode != 200 || resp.ContentLength != int64(len(want)) {
					t.Errorf("HEAD %s: %s, length %d", name, resp.Status, resp.ContentLength)
				}
			}
		})
	}
}

// A directory of the source swapped for a link to elsewhere after the plan was made leads the
// import nowhere: what it points at is not adopted, in either mode.
func TestImportDoesNotFollowASwappedDirectory(t *testing.T) {
	for _, copyFiles := range []bool{false, true} {
		base := t.TempDir()
		src, secret := filepath.Join(base, "store"), filepath.Join(base, "secret")
		tree(t, src, map[string][]byte{"a/shadow": []byte("ordinary")})
		tree(t, secret, map[string][]byte{"shadow": []byte("TOP SECRET outside --source")})
		plan, err := planImport(src, "prosody-filer", filepath.Join(base, "data"))
		if err != nil || len(plan.files) != 1 {
			t.Fatalf("plan %+v %v", plan, err)
		}
		os.RemoveAll(filepath.Join(src, "a"))
		if err := os.Symlink(secret, filepath.Join(src, "a")); err != nil {
			t.Fatal(err)
		}
		local, err := storage.OpenLocal(filepath.Join(base, "data"), storage.LocalOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		root, _ := os.OpenRoot(src)
		var out, errOut bytes.Buffer
		code := runImport(t.Context(), local, root, plan, copyFiles, &out, &errOut)
		root.Close()
		if _, err := local.Stat(t.Context(), "a/shadow"); err == nil || code == 0 {
			t.Errorf("copy=%v: a file outside --source was adopted (exit %d): %s", copyFiles, code, out.String())
		}
		local.Close()
	}
}

// The data directory, or a directory within it, is no source.
func TestImportRefusesItsOwnDataDirectory(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(data, "files"), 0o755)
	env := []string{"FILESERVER_STORAGE_PATH=" + data, "FILESERVER_AUTH_SECRET=" + strings.Repeat("s", 32)}
	for _, src := range []string{data, filepath.Join(data, "files")} {
		out, errOut, code := runCLI(t, env, "import", "--from", "prosody-filer", "--source", src, "--dry-run")
		if code == 0 || !strings.Contains(errOut, "own data directory") {
			t.Errorf("--source %s: exit %d: %s %s", src, code, out, errOut)
		}
	}
}
