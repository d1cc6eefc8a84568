package hmacauth

import (
	"fmt"
	"strconv"
	"strings"
)

// octetStream is the type clients send when they do not know, or hide, the
// real one (Dino, Monal, OMEMO uploads).
const octetStream = "application/octet-stream"

// v1Message is what a v1 MAC covers: file_path SP Content-Length
// (mod_http_upload_external v1: string.format("%s/%s %d", ...); ejabberd:
// <<UrlPath/binary, " ", SizeStr/binary>>).
func v1Message(filePath string, size int64) string {
	return filePath + " " + strconv.FormatInt(size, 10)
}

// v2Message is what a v2 MAC covers: file_path NUL Content-Length NUL
// Content-Type (mod_http_upload_external v2: "%s/%s\0%d\0%s").
func v2Message(filePath string, size int64, contentType string) string {
	return filePath + "\x00" + strconv.FormatInt(size, 10) + "\x00" + contentType
}

// verifyV1 checks ?v=.
func (v *Verifier) verifyV1(req Request) (Grant, error) {
	if req.ContentLength < 0 {
		return Grant{}, fmt.Errorf("v1: the MAC binds Content-Length: %w", ErrLengthRequired)
	}
	mac, ok := decodeMAC(req.Query.Get("v"))
	if !ok {
		return Grant{}, fmt.Errorf("v1: MAC is not 64 hex digits: %w", ErrBadSignature)
	}
	if !v.matchKey(mac, v1Message(req.FilePath, req.ContentLength)) {
		return Grant{}, fmt.Errorf("v1: the signature matches %s for this path and size (%d bytes): the signer uses another "+
			"secret, or signed another path or size: %w", v.secretsTried(), req.ContentLength, ErrBadSignature)
	}
	return Grant{Scheme: SchemeV1, Size: req.ContentLength}, nil
}

// verifyV2 checks ?v2= (or its alias ?token=), whose value is given.
func (v *Verifier) verifyV2(req Request, value string) (Grant, error) {
	if req.ContentLength < 0 {
		return Grant{}, fmt.Errorf("v2: the MAC binds Content-Length: %w", ErrLengthRequired)
	}
	mac, ok := decodeMAC(value)
	if !ok {
		return Grant{}, fmt.Errorf("v2: MAC is not 64 hex digits: %w", ErrBadSignature)
	}
	for _, ct := range v.v2Candidates(req) {
		if v.matchKey(mac, v2Message(req.FilePath, req.ContentLength, ct)) {
			return Grant{Scheme: SchemeV2, ContentType: ct, Size: req.ContentLength}, nil
		}
	}
	return Grant{}, fmt.Errorf("v2: the signature matches %s for this path, size (%d bytes) and any of the content types "+
		"%q: the signer uses another secret, or signed another path, size or type: %w",
		v.secretsTried(), req.ContentLength, v.v2Candidates(req), ErrBadSignature)
}

// secretsTried says, for an error an admin reads, which secrets a MAC was checked against
// (never the secrets or the MAC).
func (v *Verifier) secretsTried() string {
	switch len(v.keys) {
	case 0:
		return "no secret (none is configured)"
	case 1:
		return "no configured secret (auth.secret)"
	}
	return fmt.Sprintf("none of the %d configured secrets (auth.secret and previous_secrets)", len(v.keys))
}

// v2Candidates lists the content types a v2 MAC may cover, in the order
// they are tried, without duplicates.
//
// Prosody signs the type of the slot request, but clients do not always PUT
// that same type: Movim sends none, Converse.js an empty one, OMEMO uploads
// application/octet-stream. So after the type as sent and the same without
// parameters, a request whose type is absent, empty or octet-stream also
// tries application/octet-stream and the type of the file's extension. A
// client that sends another type gets no fallback: it must have signed what
// it sends.
func (v *Verifier) v2Candidates(req Request) []string {
	var out []string
	add := func(t string) {
		for _, o := range out {
			if o == t {
				return
			}
		}
		out = append(out, t)
	}
	sent := strings.TrimSpace(req.ContentType)
	if req.HasContentType {
		add(sent)
		add(bareType(sent))
	}
	if b := bareType(sent); !req.HasContentType || b == "" || strings.EqualFold(b, octetStream) {
		add(octetStream)
		if t := v.typeByName(req.FilePath); t != "" {
			add(t)
		}
	}
	return out
}
