package hmacauth

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath is returned by FilePath for a path outside the prefix or with a
// malformed percent escape.
var ErrBadPath = errors.New("hmacauth: bad upload path")

// FilePath returns the file_path that v1, v2 and token credentials cover:
// escapedPath (r.URL.EscapedPath()) without prefix, percent-decoded exactly
// once. Escapes may use upper or lower case hex ("%c3%a4" and "%C3%A4" are
// both "ä"); '+' stays '+' (it is a space only in query strings), while
// "%2B" is '+'. Paths of any depth are returned as they are: making sure the
// result stays inside storage is the caller's job. The error wraps
// ErrBadPath when escapedPath does not start with prefix or has an escape
// that is not '%' and two hex digits.
func FilePath(escapedPath, prefix string) (string, error) {
	rest, ok := strings.CutPrefix(escapedPath, prefix)
	if !ok {
		return "", fmt.Errorf("path is not under the upload prefix: %w", ErrBadPath)
	}
	if !strings.Contains(rest, "%") {
		return rest, nil
	}
	var b strings.Builder
	b.Grow(len(rest))
	for i := 0; i < len(rest); i++ {
		if rest[i] != '%' {
			b.WriteByte(rest[i])
			continue
		}
		if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
			return "", fmt.Errorf("malformed escape at byte %d: %w", len(prefix)+i, ErrBadPath)
		}
		b.WriteByte(unhex(rest[i+1])<<4 | unhex(rest[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
