package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A file's thumbnails leave the disk with its bytes, whichever process removes them: the
// server's reaper, or fileserver gc run beside it. Otherwise a picture of every image ever
// uploaded would outlive the retention the operator promised its users, and takedowns.
func TestRemovedFilesTakeTheirThumbnails(t *testing.T) {
	data := t.TempDir()
	secret := "thumb-secret-0123456789-0123456789-abcdefghij"
	env := []string{"FILESERVER_AUTH_SECRET=" + secret}
	thumbs := []string{"--storage", data, "--set", "thumbnails.enabled=true"}
	withThumbnail := func(name string, shade uint8) {
		s := startServer(t, env, thumbs...)
		putPhoto(t, env, s.addr, name, shade)
		resp, err := http.Get("http://" + s.addr + "/upload/" + name + "?thumb=128")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumbnail of %s: %d %s", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if n := len(thumbnails(t, data)); n != 1 {
			t.Fatalf("%d thumbnails kept, want 1", n)
		}
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}

	withThumbnail("gc/photo.png", 1)
	out, errOut, code := runCLI(t, env, "gc", "--storage", data, "--set", "thumbnails.enabled=true", "--set", "upload.ttl=1ns")
	if code != 0 || !strings.Contains(out, "removed 1 files") {
		t.Fatalf("gc: %d %q %q", code, out, errOut)
	}
	if left := thumbnails(t, data); len(left) != 0 {
		t.Fatalf("thumbnails left after gc removed their file: %v", left)
	}

	withThumbnail("reaper/photo.png", 2)
	startServer(t, env, append(thumbs, "--set", "upload.ttl=1ns")...)
	deadline := time.Now().Add(10 * time.Second)
	for len(thumbnails(t, data)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("thumbnails left after the reaper's pass: %v", thumbnails(t, data))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(data, "files", "reaper", "photo.png")); !os.IsNotExist(err) {
		t.Fatalf("the reaper left the file: %v", err)
	}
}

// putPhoto uploads a small PNG under name with a v1 URL signed by the CLI.
func putPhoto(t *testing.T, env []string, addr, name string, shade uint8) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for y := range 200 {
		for x := range 300 {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), shade, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, env, "sign", "--listen", addr, "--protocol", "v1", "--path", name, "--size", itoa(b.Len()))
	if code != 0 {
		t.Fatalf("sign: %d %s", code, errOut)
	}
	req, _ := http.NewRequest(http.MethodPut, strings.TrimSpace(out), &b)
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload %s: %d", name, resp.StatusCode)
	}
}

// thumbnails lists the thumbnail files kept under data.
func thumbnails(t *testing.T, data string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(filepath.Join(data, "thumbs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jpg") {
			found = append(found, p)
		}
		return nil
	})
	return found
}
