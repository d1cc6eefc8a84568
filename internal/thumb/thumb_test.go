package thumb

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/storage"
)

func newMaker(t *testing.T, pool *adaptivebuf.Pool) (*Maker, *os.Root) {
	t.Helper()
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return New(Options{Sizes: []int{64, 128}, MaxPixels: 4_000_000, Timeout: 10 * time.Second, Cache: root, Pool: pool}), root
}

func gradient(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}

func encode(t *testing.T, format string, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A 1x1 lossless WebP (the usual feature probe's image).
var webp1x1, _ = base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

func opener(data []byte, opens *int) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		*opens++
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

func decoded(t *testing.T, data []byte) image.Config {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "jpeg" {
		t.Fatalf("the thumbnail is no JPEG: %s %v", format, err)
	}
	return cfg
}

// Each format gives a JPEG that fits the size, keeps the aspect, is never enlarged, and is
// made once: the second ask is read from the cache.
func TestThumbnails(t *testing.T) {
	m, _ := newMaker(t, nil)
	cases := []struct {
		format     string
		data       []byte
		wantW, wan int
	}{
		{"png", encode(t, "png", gradient(400, 200)), 128, 64},
		{"jpeg", encode(t, "jpeg", gradient(300, 600)), 64, 128},
		{"gif", encode(t, "gif", gradient(50, 40)), 50, 40},
		{"webp", webp1x1, 1, 1},
	}
	for _, c := range cases {
		opens := 0
		meta := storage.Meta{Name: "x." + c.format, Size: int64(len(c.data)), SHA256: c.format + "0123456789abcdef0123456789abcdef"}
		for range 2 {
			data, err := m.Get(context.Background(), meta, 128, opener(c.data, &opens))
			if err != nil {
				t.Fatalf("%s: %v", c.format, err)
			}
			if cfg := decoded(t, data); cfg.Width != c.wantW || cfg.Height != c.wan {
				t.Errorf("%s: %dx%d, want %dx%d", c.format, cfg.Width, cfg.Height, c.wantW, c.wan)
			}
		}
		if opens != 1 {
			t.Errorf("%s: the image was read %d times, want once", c.format, opens)
		}
	}
}

// pngHeader is a PNG signature and an IHDR chunk declaring w x h RGBA pixels, followed by
// nothing: what a decompression bomb shows before its pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestRefusals(t *testing.T) {
	m, _ := newMaker(t, nil)
	full := encode(t, "png", gradient(300, 300))
	cases := map[string]struct {
		data []byte
		size int
		want error
	}{
		"a bomb: 100000x100000 declared": {pngHeader(100000, 100000), 64, ErrTooLarge},
		"truncated":                      {full[:len(full)/2], 64, ErrDecode},
		"not an image":                   {[]byte("%PDF-1.7 not an image at all"), 64, ErrNotImage},
		"a size not offered":             {full, 100, ErrSize},
	}
	for name, c := range cases {
		opens := 0
		_, err := m.Get(context.Background(), storage.Meta{Name: name, Size: int64(len(c.data))}, c.size, opener(c.data, &opens))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// Decoded pixels are taken from the buffer budget: an image that does not fit it is refused,
// and the budget is whole again after a thumbnail.
func TestDecodingWithinTheBudget(t *testing.T) {
	pool := adaptivebuf.New(adaptivebuf.Options{Budget: 2 << 20, Min: 16 << 10, Max: 1 << 20})
	m, _ := newMaker(t, pool)
	opens := 0
	big := encode(t, "png", gradient(1000, 1000)) // 4 MB of RGBA
	if _, err := m.Get(context.Background(), storage.Meta{Name: "big", Size: 1}, 64, opener(big, &opens)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an image over the budget: %v", err)
	}
	small := encode(t, "png", gradient(200, 200))
	if _, err := m.Get(context.Background(), storage.Meta{Name: "small", Size: 2}, 64, opener(small, &opens)); err != nil {
		t.Fatal(err)
	}
	if pool.InUse() != 0 {
		t.Fatalf("%d bytes of the budget still taken", pool.InUse())
	}
}

// A progressive JPEG keeps its coefficients while it decodes: what it is given from the
// budget counts them.
func TestProgressiveJPEGCountsCoefficients(t *testing.T) {
	baseline := []byte{0xFF, 0xD8, 0xFF, 0xC0}
	progressive := []byte{0xFF, 0xD8, 0xFF, 0xC2}
	if b, p := decodeBytes("jpeg", color.YCbCrModel, baseline), decodeBytes("jpeg", color.YCbCrModel, progressive); b != 3 || p != 15 {
		t.Fatalf("baseline %d, progressive %d bytes per pixel", b, p)
	}
	if n := decodeBytes("jpeg", color.CMYKModel, progressive); n != 20 {
		t.Fatalf("CMYK progressive: %d", n)
	}
}

// An image that cannot be made a thumbnail of is not read again when asked again.
func TestFailuresRemembered(t *testing.T) {
	m, _ := newMaker(t, nil)
	opens := 0
	bad := []byte("%PDF-1.7 not an image")
	meta := storage.Meta{Name: "doc", Size: int64(len(bad))}
	for range 3 {
		if _, err := m.Get(context.Background(), meta, 64, opener(bad, &opens)); !errors.Is(err, ErrNotImage) {
			t.Fatal(err)
		}
	}
	if opens != 1 {
		t.Fatalf("read %d times", opens)
	}
}

// A thumbnail being made while its file is removed (Forget runs during the decode) answers
// its request but is not kept: no picture of a removed file is left on disk. One made after
// the removal, of bytes stored again, is kept.
func TestForgetDuringMake(t *testing.T) {
	m, root := newMaker(t, nil)
	img := encode(t, "png", gradient(300, 200))
	meta := storage.Meta{Name: "a/photo.png", Size: int64(len(img)), SHA256: strings.Repeat("ab", 32)}
	opened, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.Get(context.Background(), meta, 128, func() (io.ReadCloser, error) {
			close(opened)
			<-release
			return io.NopCloser(bytes.NewReader(img)), nil
		})
		done <- err
	}()
	<-opened
	m.Forget(meta)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if left := jpegs(t, root); len(left) != 0 {
		t.Fatalf("thumbnail kept after its file was forgotten: %v", left)
	}
	opens := 0
	if _, err := m.Get(context.Background(), meta, 128, opener(img, &opens)); err != nil {
		t.Fatal(err)
	}
	if left := jpegs(t, root); len(left) != 1 || opens != 1 {
		t.Fatalf("thumbnail of bytes stored again: %v, %d opens", left, opens)
	}
	m.Forget(meta)
	if left := jpegs(t, root); len(left) != 0 {
		t.Fatalf("Forget left %v", left)
	}
}

func jpegs(t *testing.T, root *os.Root) []string {
	t.Helper()
	var found []string
	fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jpg") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// Sweep removes the thumbnails nobody asked for in Keep (and leftovers of writes), and
// spares one asked for since, however old it was: asking marks it as used.
func TestSweepRemovesUnusedThumbnails(t *testing.T) {
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const keep = 24 * time.Hour
	m := New(Options{Sizes: []int{64}, MaxPixels: 4_000_000, Timeout: 10 * time.Second, Cache: root, Keep: keep})
	img := encode(t, "png", gradient(100, 80))
	metas := map[string]storage.Meta{}
	for _, name := range []string{"unused", "asked"} {
		meta := storage.Meta{Name: name, Size: int64(len(img)), SHA256: strings.Repeat(name[:1], 64)}
		if _, err := m.Get(context.Background(), meta, 64, opener(img, new(int))); err != nil {
			t.Fatal(err)
		}
		metas[name] = meta
	}
	root.MkdirAll("thumbs/zz", 0o750)
	root.WriteFile("thumbs/zz/left.tmp", []byte("a write cut short"), 0o640)
	old := time.Now().Add(-2 * keep)
	for _, p := range append(jpegs(t, root), "thumbs/zz/left.tmp") {
		if err := root.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	opens := 0
	if _, err := m.Get(context.Background(), metas["asked"], 64, opener(img, &opens)); err != nil || opens != 0 {
		t.Fatalf("the kept thumbnail: %v, %d opens of the image", err, opens)
	}
	n, err := m.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Sweep removed %d (%v), want the unused thumbnail and the leftover", n, err)
	}
	left := jpegs(t, root)
	if len(left) != 1 || left[0] != m.file(metas["asked"], 64) {
		t.Fatalf("left %v, want the thumbnail asked for", left)
	}
	if _, err := root.Stat("thumbs/zz/left.tmp"); !os.IsNotExist(err) {
		t.Fatalf("leftover of a write: %v", err)
	}
	// Without Keep nothing goes.
	m.o.Keep = 0
	root.Chtimes(left[0], old, old)
	if n, err := m.Sweep(context.Background()); n != 0 || err != nil || len(jpegs(t, root)) != 1 {
		t.Fatalf("Sweep without Keep removed %d (%v)", n, err)
	}
}
