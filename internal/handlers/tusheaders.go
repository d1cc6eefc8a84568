package handlers

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"strconv"
	"strings"
)

// Parsers of the resumable protocols' request headers. Each returns an error naming the
// header, for a 400 the client can act on.

// parseOffset reads a non-negative integer header (Upload-Offset, Upload-Length). present
// is false when the header is absent.
func parseOffset(name, v string) (n int64, present bool, err error) {
	if v == "" {
		return 0, false, nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, true, fmt.Errorf("%s must be a non-negative integer", name)
		}
	}
	n, err = strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("%s is out of range", name)
	}
	return n, true, nil
}

// parseMetadata reads tus Upload-Metadata: comma-separated "key base64value" pairs, keys
// unique, non-empty, without spaces or commas; the value may be omitted.
func parseMetadata(v string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for pair := range strings.SplitSeq(v, ",") {
		pair = strings.TrimSpace(pair)
		key, val, _ := strings.Cut(pair, " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, errors.New("Upload-Metadata has an empty or malformed key")
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("Upload-Metadata repeats the key %q", key)
		}
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("Upload-Metadata value of %q is not base64", key)
		}
		out[key] = string(dec)
	}
	return out, nil
}

// checksumAlgorithms are the tus checksum algorithms served, in Tus-Checksum-Algorithm order.
var checksumAlgorithms = []string{"sha1", "sha256", "md5", "crc32"}

func newChecksum(algo string) hash.Hash {
	switch algo {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "md5":
		return md5.New()
	case "crc32":
		return crc32.NewIEEE()
	}
	return nil
}

// parseChecksum reads tus Upload-Checksum: "<algorithm> <base64 digest>".
func parseChecksum(v string) (hash.Hash, []byte, error) {
	algo, digest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return nil, nil, errors.New("Upload-Checksum must be \"<algorithm> <base64 digest>\"")
	}
	h := newChecksum(algo)
	if h == nil {
		return nil, nil, fmt.Errorf("Upload-Checksum algorithm %q is not supported (use %s)", algo, strings.Join(checksumAlgorithms, ", "))
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(digest))
	if err != nil || len(want) != h.Size() {
		return nil, nil, errors.New("Upload-Checksum digest is not base64 of the algorithm's size")
	}
	return h, want, nil
}

// parseConcat reads tus Upload-Concat: "partial", or "final;" and space-separated upload
// URLs (absolute or relative) whose last path segment is an upload id under prefix.
func parseConcat(v, prefix string) (partial bool, parts []string, err error) {
	v = strings.TrimSpace(v)
	if v == "partial" {
		return true, nil, nil
	}
	list, ok := strings.CutPrefix(v, "final;")
	if !ok {
		return false, nil, errors.New("Upload-Concat must be \"partial\" or \"final;<urls>\"")
	}
	for u := range strings.FieldsSeq(list) {
		if i := strings.Index(u, "://"); i >= 0 {
			rest := u[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				u = rest[j:]
			} else {
				u = "/"
			}
		}
		id, ok := strings.CutPrefix(u, prefix)
		if !ok || id == "" || strings.Contains(id, "/") {
			return false, nil, fmt.Errorf("Upload-Concat names %q, which is not an upload of this server", u)
		}
		parts = append(parts, id)
	}
	if len(parts) == 0 {
		return false, nil, errors.New("Upload-Concat final lists no uploads")
	}
	return false, parts, nil
}
