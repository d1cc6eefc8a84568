package hmacauth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// SignV1 returns the lowercase hex ?v= MAC for a PUT of size bytes to
// filePath (the path after the upload prefix, not percent-encoded).
func SignV1(secret, filePath string, size int64) string {
	return hex.EncodeToString(sum([]byte(secret), v1Message(filePath, size)))
}

// SignV2 returns the lowercase hex ?v2= MAC for a PUT of size bytes of
// contentType to filePath.
func SignV2(secret, filePath string, size int64, contentType string) string {
	return hex.EncodeToString(sum([]byte(secret), v2Message(filePath, size, contentType)))
}

// SignV3 returns the lowercase hex ?v3= MAC that lets method on urlPath (the
// full decoded URL path, prefix included) until the Unix time expires.
func SignV3(secret, method, urlPath string, expires int64) string {
	return hex.EncodeToString(sum([]byte(secret), v3Message(method, formatInt(expires), urlPath)))
}

// Claims are the claims of a mod_http_file_share upload token.
type Claims struct {
	// Sub is the uploader's bare JID.
	Sub string `json:"sub"`
	// Iat is when the token was issued, Unix seconds.
	Iat int64 `json:"iat"`
	// Exp is when the token stops authorizing the upload, Unix seconds
	// (Prosody: Iat + 300).
	Exp int64 `json:"exp"`
	// Slot is the slot id, the first segment of the upload path.
	Slot string `json:"slot"`
	// Expires is when the uploaded file should be deleted, Unix seconds; 0
	// (omitted) for never.
	Expires int64 `json:"expires,omitempty"`
	// Filename is the file's name as the client requested the slot.
	Filename string `json:"filename"`
	// Filesize is the exact size of the upload in bytes.
	Filesize int64 `json:"filesize"`
	// Filetype is the content type of the slot request.
	Filetype string `json:"filetype"`
}

// jwtHeader is Prosody's constant header, base64url-encoded.
var jwtHeader = b64url([]byte(`{"alg":"HS256","typ":"JWT"}`))

// SignToken returns the compact HS256 JWT for c, as Prosody's util.jwt.sign
// makes it: the header {"alg":"HS256","typ":"JWT"}, base64url without
// padding. The claims are JSON in the order of Claims' fields, with '<', '>'
// and '&' not escaped.
func SignToken(secret string, c Claims) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		panic("hmacauth: encoding claims: " + err.Error()) // cannot happen for this struct
	}
	signed := jwtHeader + "." + b64url(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return signed + "." + b64url(sum([]byte(secret), signed))
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
