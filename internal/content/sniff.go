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
	"unicode/utf8"

	"fileserver/internal/storage"
)

// ErrTypeMismatch: an upload declared as an image, audio or video holds something else.
var ErrTypeMismatch = errors.New("content does not match its declared type")

// SniffLen is how many first bytes Mismatch reads.
const SniffLen = 512

// Mismatch tells whether head, an upload's first bytes, contradicts its declared type, and
// what the bytes look like. Only types that clients render inline are checked (image/*,
// audio/*, video/*), and only what cannot be media at all is refused: markup or other text
// (the bytes must be text throughout, at least 16 of them), PDF, archives, executables. The
// signatures refused are long enough that random bytes practically never carry them: OMEMO
// clients upload encrypted files under the type of what they encrypted, and those bytes are
// random. Media of another kind than declared (a JPEG declared audio/mpeg) passes: such
// signatures are two or three bytes, and mislabelled media are no danger.
func Mismatch(declared string, head []byte) (sniffed string, bad bool) {
	declared = strings.ToLower(strings.TrimSpace(strings.SplitN(declared, ";", 2)[0]))
	family, sub, _ := strings.Cut(declared, "/")
	if family != "image" && family != "audio" && family != "video" || len(head) == 0 {
		return "", false
	}
	sniffed = sniff(head)
	switch {
	case strings.HasPrefix(sniffed, "text/"):
		// SVG is XML; anything else that is text throughout is no media.
		return sniffed, !strings.HasPrefix(sub, "svg") && textual(head)
	case refusedKinds[sniffed]:
		return sniffed, true
	}
	return sniffed, false
}

// refusedKinds are the binary kinds, by signatures of four bytes or more, that no media file
// is.
var refusedKinds = map[string]bool{
	"application/pdf": true, "application/postscript": true, "application/zip": true,
	"application/x-rar-compressed": true, "application/wasm": true,
	"application/x-executable": true, "application/x-mach-binary": true, "application/java-vm": true,
}

// textual tells whether head is text throughout: at least 16 bytes of UTF-8 without control
// characters other than tab, line feed, form feed and carriage return.
func textual(head []byte) bool {
	if len(head) < 16 {
		return false
	}
	// The last rune may be cut by the sniff's length.
	for i := 0; i < utf8.UTFMax-1 && len(head) > 0 && !utf8.Valid(head); i++ {
		head = head[:len(head)-1]
	}
	if !utf8.Valid(head) {
		return false
	}
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

// executables are signatures net/http does not know.
var executables = []struct{ magic, typ string }{
	{"\x7fELF", "application/x-executable"},
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
