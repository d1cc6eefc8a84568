package handlers

import (
	"mime"
	"path"
	"strings"
)

// extensionTypes maps common extensions to types, so the answer does not depend on the host's
// /etc/mime.types. Anything not here falls back to the standard library's table.
var extensionTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".avif": "image/avif", ".heic": "image/heic", ".heif": "image/heif",
	".bmp": "image/bmp", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".tif": "image/tiff",
	".tiff": "image/tiff",
	".mp4":  "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
	".mkv": "video/x-matroska", ".3gp": "video/3gpp", ".avi": "video/x-msvideo",
	".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".ogg": "audio/ogg",
	".oga": "audio/ogg", ".opus": "audio/ogg", ".wav": "audio/wav", ".flac": "audio/flac",
	".amr": "audio/amr",
	".txt": "text/plain", ".log": "text/plain", ".md": "text/markdown", ".csv": "text/csv",
	".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "text/javascript",
	".json": "application/json", ".xml": "application/xml", ".pdf": "application/pdf",
	".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
	".7z": "application/x-7z-compressed", ".apk": "application/vnd.android.package-archive",
	".doc": "application/msword", ".odt": "application/vnd.oasis.opendocument.text",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".vcf":  "text/vcard", ".ics": "text/calendar",
}

const octetStream = "application/octet-stream"

// TypeByName is the bare MIME type for a file name's extension, or "" when unknown.
func TypeByName(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return ""
	}
	if t, ok := extensionTypes[ext]; ok {
		return t
	}
	return bareType(mime.TypeByExtension(ext))
}

// bareType strips parameters and whitespace and lowercases: "Text/Plain; charset=utf-8" ->
// "text/plain". Clients compare the served type as an exact string (docs/clients.md,
// "Served Content-Type").
func bareType(t string) string {
	t, _, _ = strings.Cut(t, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// storedType picks the type to keep for an upload: the declared one (the type the signature
// covered, or the request's) unless it is missing or generic, else the one the extension
// implies, else application/octet-stream (docs/clients.md, "Served Content-Type").
func storedType(declared, name string) string {
	t := bareType(declared)
	if t != "" && t != octetStream && validMediaType(t) {
		return t
	}
	if t := TypeByName(name); t != "" {
		return t
	}
	return octetStream
}

func validMediaType(t string) bool {
	mt, _, err := mime.ParseMediaType(t)
	return err == nil && strings.Contains(mt, "/")
}

// inlineType reports whether a type is shown in the browser rather than downloaded: media
// and plain text. SVG is excluded: it is a document that can carry script.
func inlineType(t string) bool {
	switch {
	case t == "image/svg+xml":
		return false
	case strings.HasPrefix(t, "image/"), strings.HasPrefix(t, "video/"), strings.HasPrefix(t, "audio/"):
		return true
	}
	return t == "text/plain"
}

// contentDisposition renders RFC 6266 with the RFC 8187 filename* for any UTF-8 name and an
// ASCII fallback for old user agents.
func contentDisposition(inline bool, name string) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	var ascii strings.Builder
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r < 0x20 || r >= 0x7f:
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(r)
		}
	}
	return kind + `; filename="` + ascii.String() + `"; filename*=UTF-8''` + rfc8187Escape(name)
}

// rfc8187Escape percent-encodes everything outside RFC 8187's attr-char set.
func rfc8187Escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
