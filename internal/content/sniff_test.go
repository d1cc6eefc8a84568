package content

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

func encoded(t *testing.T, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// box is an ISO media box: size, type, payload.
func box(typ string, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(b, uint32(8+len(payload)))
	copy(b[4:], typ)
	return append(b, payload...)
}

func TestMismatch(t *testing.T) {
	pngData := encoded(t, func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) })
	jpegData := encoded(t, func(b *bytes.Buffer, i image.Image) error { return jpeg.Encode(b, i, nil) })
	gifData := encoded(t, func(b *bytes.Buffer, i image.Image) error { return gif.Encode(b, i, nil) })
	webp := append([]byte("RIFF\x1a\x00\x00\x00WEBPVP8 "), make([]byte, 20)...)
	mp4 := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	m4a := box("ftyp", []byte("M4A \x00\x00\x02\x00M4A mp42isom"))
	heic := box("ftyp", []byte("heic\x00\x00\x00\x00mif1heic"))
	ogg := append([]byte("OggS\x00\x02"), make([]byte, 40)...)
	webm := append([]byte{0x1A, 0x45, 0xDF, 0xA3}, make([]byte, 40)...)
	mp3 := append([]byte("ID3\x04\x00\x00"), make([]byte, 40)...)
	html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`)
	pdf := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	zip := []byte("PK\x03\x04\x14\x00\x00\x00")
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 40)...)
	unknown := []byte{0x00, 0x13, 0x37, 0x42, 0x99}
	cases := []struct {
		name, declared string
		head           []byte
		bad            bool
	}{
		{"png as png", "image/png", pngData, false},
		{"png as jpeg (same family)", "image/jpeg", pngData, false},
		{"jpeg", "image/jpeg", jpegData, false},
		{"gif", "image/gif", gifData, false},
		{"webp", "image/webp", webp, false},
		{"html as png", "image/png", html, true},
		{"html as png with parameters", "Image/PNG; charset=binary", html, true},
		{"pdf as jpeg", "image/jpeg", pdf, true},
		{"zip as image", "image/png", zip, true},
		{"executable as video", "video/mp4", elf, true},
		{"svg", "image/svg+xml", svg, false},
		{"svg declared png", "image/png", svg, true},
		{"heic (ftyp)", "image/heic", heic, false},
		{"mp4 video", "video/mp4", mp4, false},
		{"m4a as audio", "audio/mp4", m4a, false},
		{"m4a labelled video", "video/mp4", m4a, false},
		{"mp4 declared image: media, passes", "image/jpeg", mp4, false},
		{"ogg voice message", "audio/ogg", ogg, false},
		{"webm", "video/webm", webm, false},
		{"mp3", "audio/mpeg", mp3, false},
		{"html as audio", "audio/mpeg", html, true},
		{"jpeg declared as audio: media, passes", "audio/mpeg", jpegData, false},
		{"a short script declared png", "image/png", []byte("<script>alert(1)</script>"), true},
		{"plain text declared jpeg", "image/jpeg", []byte("just some words, nothing like an image at all\n"), true},
		{"UTF-8 text cut mid-rune", "image/jpeg", append([]byte("грустный текст про картинку "), 0xd0), true},
		{"unknown bytes", "image/png", unknown, false},
		{"html declared html: not checked", "text/html", html, false},
		{"html declared octet-stream: not checked", "application/octet-stream", html, false},
		{"empty file", "image/png", nil, false},
	}
	for _, c := range cases {
		sniffed, bad := Mismatch(c.declared, c.head)
		if bad != c.bad {
			t.Errorf("%s: declared %s, sniffed %q: mismatch %v, want %v", c.name, c.declared, sniffed, bad, c.bad)
		}
	}
}

// OMEMO clients upload encrypted files (random bytes) under the type of what they encrypted:
// those are never refused, whatever their length.
func TestRandomBytesPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		head := make([]byte, 16+i%600)
		for j := range head {
			head[j] = byte(rng.Uint32())
		}
		declared := []string{"image/jpeg", "video/mp4", "audio/ogg"}[i%3]
		if sniffed, bad := Mismatch(declared, head[:min(len(head), SniffLen)]); bad {
			t.Fatalf("random bytes %x... declared %s refused as %s", head[:8], declared, sniffed)
		}
	}
}
