package handlers_test

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"fileserver/internal/handlers"
)

// Media and plain text are shown inline with their bare type; everything else, SVG included,
// is an attachment (docs/clients.md, "Served Content-Type", "Content-Disposition").
func TestDownloadTypeAndDisposition(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		file, putType   string // putType "" sends no Content-Type (v1 keeps the PUT's)
		served, display string
	}{
		{"doc.pdf", "", "application/pdf", "attachment"},
		{"pic.svg", "", "image/svg+xml", "attachment"},
		{"pic.png", "", "image/png", "inline"},
		{"clip.mp4", "", "video/mp4", "inline"},
		{"voice.ogg", "", "audio/ogg", "inline"},
		{"notes.txt", "", "text/plain", "inline"},
		{"notes2.txt", "text/plain; charset=utf-8", "text/plain", "inline"},
		{"page.html", "", "text/html", "attachment"},
		{"declared.bin", "image/png", "image/png", "inline"},
		{"unknown.zzzq", "", "application/octet-stream", "attachment"},
		{"upper.JPG", "", "image/jpeg", "inline"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var hdr []string
			if tt.putType != "" {
				hdr = []string{"Content-Type", tt.putType}
			}
			ts.upload(t, tt.file, []byte("content"), hdr...)
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := do(t, request(t, method, ts.fileURL(tt.file), nil))
				wantStatus(t, resp, body, http.StatusOK)
				if ct := resp.Header.Get("Content-Type"); ct != tt.served {
					t.Errorf("%s Content-Type %q, want exactly %q", method, ct, tt.served)
				}
				disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
				if err != nil || disp != tt.display {
					t.Errorf("%s Content-Disposition %q, want %s", method, resp.Header.Get("Content-Disposition"), tt.display)
				}
				if params["filename"] != tt.file {
					t.Errorf("%s disposition filename %q, want %q", method, params["filename"], tt.file)
				}
			}
		})
	}
}

// The original UTF-8 name travels as RFC 8187 filename* with an ASCII fallback.
func TestContentDispositionUTF8Name(t *testing.T) {
	ts := newTestServer(t)
	name := "Отчёт за #3 (final).pdf"
	ts.upload(t, name, []byte("%PDF-1.4"))
	resp, body := get(t, ts.fileURL(name))
	wantStatus(t, resp, body, http.StatusOK)
	cd := resp.Header.Get("Content-Disposition")

	_, star, ok := strings.Cut(cd, "filename*=UTF-8''")
	if !ok {
		t.Fatalf("Content-Disposition %q has no filename*=UTF-8''", cd)
	}
	star, _, _ = strings.Cut(star, ";")
	const attrChar = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~"
	for i := 0; i < len(star); i++ {
		if star[i] == '%' {
			if i+2 >= len(star) || !strings.ContainsRune("0123456789ABCDEF", rune(star[i+1])) || !strings.ContainsRune("0123456789ABCDEF", rune(star[i+2])) {
				t.Fatalf("filename* %q: bad escape at %d", star, i)
			}
			i += 2
			continue
		}
		if !strings.ContainsRune(attrChar, rune(star[i])) {
			t.Fatalf("filename* %q: %q must be percent-encoded (RFC 8187 attr-char)", star, star[i])
		}
	}
	if !strings.Contains(star, "%20") || !strings.Contains(star, "%D0%9E") {
		t.Errorf("filename* %q: space and Cyrillic not percent-encoded", star)
	}
	decoded, err := url.PathUnescape(star)
	if err != nil || decoded != name {
		t.Errorf("filename* decodes to %q (%v), want %q", decoded, err, name)
	}

	// mime parses filename* in preference; the plain filename= must also be there, ASCII only.
	_, params, err := mime.ParseMediaType(cd)
	if err != nil || params["filename"] != name {
		t.Errorf("parsed filename %q (%v), want %q", params["filename"], err, name)
	}
	_, fallback, ok := strings.Cut(cd, `filename="`)
	if !ok {
		t.Fatalf("Content-Disposition %q has no ASCII filename= fallback", cd)
	}
	fallback, _, _ = strings.Cut(fallback, `"`)
	for _, r := range fallback {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("fallback filename %q is not ASCII", fallback)
		}
	}
	if !strings.HasSuffix(fallback, " #3 (final).pdf") {
		t.Errorf("fallback filename %q lost its ASCII part", fallback)
	}
}

func TestTypeByName(t *testing.T) {
	tests := map[string]string{
		"a.jpg": "image/jpeg", "a.JPEG": "image/jpeg", "dir/b.png": "image/png", "c.mp4": "video/mp4",
		"d.opus": "audio/ogg", "e.txt": "text/plain", "f.pdf": "application/pdf", "noext": "",
		"g.tar.gz": "application/gzip",
	}
	for name, want := range tests {
		if got := handlers.TypeByName(name); got != want {
			t.Errorf("TypeByName(%q) = %q, want %q", name, got, want)
		}
	}
}
