package handlers_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"testing"
)

func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestThumbnailDownloads(t *testing.T) {
	ts := startTestServer(t, serverSetup{thumbs: true})
	photo := pngImage(t, 640, 480)
	ts.upload(t, "p/photo.png", photo)
	ts.upload(t, "p/notes.txt", []byte("no image here"))
	resp, body := get(t, ts.fileURL("p/photo.png")+"?thumb=128")
	wantStatus(t, resp, body, http.StatusOK)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || format != "jpeg" || cfg.Width != 128 || cfg.Height != 96 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %s %dx%d %v, Content-Type %q", format, cfg.Width, cfg.Height, err, resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("ETag")
	resp, _ = get(t, ts.fileURL("p/photo.png")+"?thumb=128", "If-None-Match", etag)
	wantStatus(t, resp, nil, http.StatusNotModified)
	head, _ := do(t, request(t, http.MethodHead, ts.fileURL("p/photo.png")+"?thumb=64", nil))
	wantStatus(t, head, nil, http.StatusOK)
	for _, c := range []struct {
		url  string
		want int
	}{
		{ts.fileURL("p/photo.png") + "?thumb=100", http.StatusBadRequest},
		{ts.fileURL("p/photo.png") + "?thumb=x", http.StatusBadRequest},
		{ts.fileURL("p/notes.txt") + "?thumb=64", http.StatusUnsupportedMediaType},
		{ts.fileURL("p/none.png") + "?thumb=64", http.StatusNotFound},
	} {
		resp, body := get(t, c.url)
		wantStatus(t, resp, body, c.want)
	}
	// The plain download is the file itself.
	resp, body = get(t, ts.fileURL("p/photo.png"))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, photo) {
		t.Fatalf("download: %s, %d bytes", resp.Status, len(body))
	}
}

// Without thumbnails, the query is ignored and the file is served.
func TestThumbnailsOff(t *testing.T) {
	ts := newTestServer(t)
	photo := pngImage(t, 64, 64)
	ts.upload(t, "p/photo.png", photo)
	resp, body := get(t, ts.fileURL("p/photo.png")+"?thumb=128")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, photo) {
		t.Fatalf("%s, %d bytes", resp.Status, len(body))
	}
}
