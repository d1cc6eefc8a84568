package handlers

import (
	"net/http"
	"path"
	"strconv"
	"time"

	"fileserver/internal/storage"
)

// Header values every download response carries, shared: a header value slice is replaced,
// never changed in place, so one slice serves every response.
var (
	cacheControlValue = []string{"public, max-age=0, must-revalidate"}
	acceptRangesValue = []string{"bytes"}
)

// fileHeaders are the header values of a stored file's download responses, computed once per
// opened or cached file. A nil value is not sent.
type fileHeaders struct {
	contentType, disposition, etag, digest []string
	// lastModified and length are what ServeContent itself sets on a full response; the cached
	// path sets them from here.
	lastModified, length []string
	modtime              time.Time
}

func newFileHeaders(name string, meta storage.Meta, modtime time.Time, size int64) fileHeaders {
	ctype := meta.ContentType
	if ctype == "" {
		ctype = storedType("", name)
	}
	fh := fileHeaders{
		contentType: []string{ctype},
		disposition: []string{contentDisposition(inlineType(ctype), path.Base(name))},
		etag:        []string{meta.ETag()},
		length:      []string{strconv.FormatInt(size, 10)},
		modtime:     modtime,
	}
	if d := reprDigest(meta.SHA256); d != "" {
		fh.digest = []string{d}
	}
	if !isZeroTime(modtime) {
		fh.lastModified = []string{modtime.UTC().Format(http.TimeFormat)}
	}
	return fh
}

// set puts the handler's own headers on a response; ServeContent adds Last-Modified,
// Accept-Ranges and Content-Length (or the cached path does, from fh). The ETag goes under
// the canonical key "Etag": ServeContent's precondition checks read it there.
func (fh *fileHeaders) set(h http.Header) {
	h["Content-Type"] = fh.contentType
	h["Content-Disposition"] = fh.disposition
	h["Etag"] = fh.etag
	if fh.digest != nil {
		h["Repr-Digest"] = fh.digest
	}
	h["Cache-Control"] = cacheControlValue
	if fh.lastModified != nil {
		h["Last-Modified"] = fh.lastModified
	}
}

// headerValue is h.Get(key) for a key already in canonical form, as net/http stores the
// request's: a map lookup without Get's canonicalisation of the key, which every request
// would otherwise pay for each header it looks at.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// setNotModified puts the headers of a 304 on a response: those of set but, as ServeContent
// sends it (RFC 9110 §15.4.5), no representation metadata beyond the validators, and no
// Last-Modified beside an ETag.
func (fh *fileHeaders) setNotModified(h http.Header) {
	h["Content-Disposition"] = fh.disposition
	h["Etag"] = fh.etag
	if fh.digest != nil {
		h["Repr-Digest"] = fh.digest
	}
	h["Cache-Control"] = cacheControlValue
}

var unixEpoch = time.Unix(0, 0)

// isZeroTime is ServeContent's test for "no modification time".
func isZeroTime(t time.Time) bool { return t.IsZero() || t.Equal(unixEpoch) }

// precondition decides a GET or HEAD of a cached file the way http.ServeContent would
// (RFC 9110 §13.2.2), when that is simple: status is 200 or 304 and exact is true. Anything it
// does not answer exactly (Range, If-Match, If-Unmodified-Since, an entity-tag list it does
// not fully parse, no modification time) is left to ServeContent: exact is false.
func (fh *fileHeaders) precondition(r *http.Request) (status int, exact bool) {
	hd := r.Header
	if len(hd["Range"]) > 0 || len(hd["If-Match"]) > 0 || len(hd["If-Unmodified-Since"]) > 0 {
		return 0, false
	}
	if inm := headerValue(hd, "If-None-Match"); inm != "" {
		// With If-None-Match, If-Modified-Since is ignored (RFC 9110 §13.1.3).
		match, ok := etagListMatches(inm, fh.etag[0])
		switch {
		case !ok:
			return 0, false
		case match:
			return http.StatusNotModified, true
		}
		return http.StatusOK, true
	}
	if ims := headerValue(hd, "If-Modified-Since"); ims != "" {
		if isZeroTime(fh.modtime) {
			return 0, false
		}
		t, err := http.ParseTime(ims)
		// Last-Modified has whole seconds, so the comparison does too.
		if err == nil && fh.modtime.Truncate(time.Second).Compare(t) <= 0 {
			return http.StatusNotModified, true
		}
	}
	return http.StatusOK, true
}

// etagListMatches reports whether an If-None-Match list names etag, by weak comparison
// (RFC 9110 §8.8.3.2), or "*". ok is false when the list is not a plain comma-separated list
// of well-formed entity tags: the caller then leaves it to ServeContent's parser.
func etagListMatches(list, etag string) (match, ok bool) {
	for len(list) > 0 {
		var part string
		part, list = cutComma(list)
		part = trimSpaceTab(part)
		switch {
		case part == "":
			continue
		case part == "*":
			return true, true
		}
		if len(part) >= 2 && part[:2] == "W/" {
			part = part[2:]
		}
		if len(part) < 2 || part[0] != '"' || part[len(part)-1] != '"' {
			return false, false
		}
		for i := 1; i < len(part)-1; i++ {
			// etagc = %x21 / %x23-7E / obs-text; a comma inside a tag is legal but is left to
			// ServeContent (it was cut above).
			if c := part[i]; c != 0x21 && (c < 0x23 || c == 0x7f) {
				return false, false
			}
		}
		if part == etag {
			return true, true
		}
	}
	return false, true
}

func cutComma(s string) (before, after string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func trimSpaceTab(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
