// Package content judges what an upload holds: whether its first bytes contradict the type
// it was declared with, for the types clients render inline.
package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"fileserver/internal/storage"
)

// ErrTypeMismatch: an upload declared as an image, audio or video holds something else.
var ErrTypeMismatch = errors.New("content does not match its declared type")

// SniffLen is how many first bytes Mismatch reads.
const SniffLen = 512

// Mismatch tells whether head, an upload's first bytes, contradicts its declared type, and
// what the bytes look like. Only types that clients render inline are checked (image/*,
// audio/*, video/*), and only a confident verdict counts: bytes that match no known signature
// (many valid formats: HEIC, AVIF, Opus in Matroska, RAW photos) are accepted. Audio and video
// are one family (clients label m4a as video/mp4 and the other way round), and the ISO media
// container (ftyp) passes for the image formats built on it.
func Mismatch(declared string, head []byte) (sniffed string, bad bool) {
	declared = strings.ToLower(strings.TrimSpace(strings.SplitN(declared, ";", 2)[0]))
	family, sub, _ := strings.Cut(declared, "/")
	if family != "image" && family != "audio" && family != "video" || len(head) == 0 {
		return "", false
	}
	sniffed = sniff(head)
	if sniffed == "application/octet-stream" {
		return sniffed, false // no known signature: nothing to say
	}
	if family == "image" {
		return sniffed, !imageLike(sub, sniffed)
	}
	got, _, _ := strings.Cut(sniffed, "/") // audio or video: one family
	return sniffed, got != "audio" && got != "video" && sniffed != "application/ogg"
}

// imageLike tells whether bytes sniffed as sniffed may be an image of subtype sub.
func imageLike(sub, sniffed string) bool {
	switch {
	case strings.HasPrefix(sniffed, "image/"):
		return true
	case strings.HasPrefix(sub, "svg"):
		return sniffed == "text/xml" || sniffed == "text/plain" // SVG is XML
	case sub == "heic" || sub == "heif" || sub == "avif":
		return sniffed == "video/mp4" // HEIF and AVIF are ISO media files
	}
	return false
}

// executables are signatures net/http does not know.
var executables = []struct{ magic, typ string }{
	{"\x7fELF", "application/x-executable"},
	{"MZ", "application/x-msdownload"},
	{"\xcf\xfa\xed\xfe", "application/x-mach-binary"},
	{"\xca\xfe\xba\xbe", "application/java-vm"},
}

func sniff(head []byte) string {
	for _, e := range executables {
		if strings.HasPrefix(string(head), e.magic) {
			return e.typ
		}
	}
	return strings.SplitN(http.DetectContentType(head), ";", 2)[0]
}

// Stored judges a committed file by its first bytes against its declared type: on a
// mismatch the file is removed and the error (matching ErrTypeMismatch) says what it looked
// like. The check follows the commit so that every upload path, resumable ones on any
// backend included, is judged the same way; the name answers for a moment before the
// uploader gets its answer, which nobody else has yet.
func Stored(ctx context.Context, store storage.Store, name, declared string) error {
	if fam, _, _ := strings.Cut(strings.ToLower(declared), "/"); fam != "image" && fam != "audio" && fam != "video" {
		return nil
	}
	return storage.Judge(ctx, store, name, func(r io.Reader) error {
		head := make([]byte, SniffLen)
		n, err := io.ReadFull(r, head)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return fmt.Errorf("the upload could not be read back to check its type: %w", err)
		}
		if sniffed, bad := Mismatch(declared, head[:n]); bad {
			return fmt.Errorf("%w: declared %s, the bytes are %s", ErrTypeMismatch, declared, sniffed)
		}
		return nil
	})
}
