package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrExists: a complete file already exists at the name (or a path component is a file).
	ErrExists = errors.New("storage: file exists")
	// ErrNotFound: no complete file at the name.
	ErrNotFound = errors.New("storage: not found")
	// ErrInvalidName: the name could point outside storage or is not a valid file name.
	ErrInvalidName = errors.New("storage: invalid name")
	// ErrNoSpace: the device is full (or below the configured free-space floor).
	ErrNoSpace = errors.New("storage: no space left")
	// ErrEscapes: the name resolves, through a symbolic link that another process or an admin
	// put into the storage tree, to a place outside it. The file is not served; callers treat
	// it as not found and warn, since someone planted that link.
	ErrEscapes = errors.New("storage: path leads outside the storage tree")
	// ErrIO: the storage failed in a way that says nothing about the request (an I/O error).
	ErrIO = errors.New("storage: I/O error")
)

// Meta describes a stored file. It is kept in a sidecar beside the data.
type Meta struct {
	Name        string    `json:"name"`
	ContentType string    `json:"content_type,omitempty"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256,omitempty"`
	Created     time.Time `json:"created"`
	// Expires is when the file should be removed; zero keeps it.
	Expires time.Time `json:"expires,omitzero"`
	// ExpiresBy says who stated Expires: ExpiresByToken for a Prosody token's expires claim.
	// Metadata written before this field existed has none (see URLExpiry).
	ExpiresBy string `json:"expires_by,omitempty"`
	// Uploader identifies who uploaded it (a JID from a token, or a client address).
	Uploader string `json:"uploader,omitempty"`
	// Derived says the metadata was derived from the stored bytes alone, for want of the
	// record written with them (the moment between a commit's link and its metadata, or a
	// crash in it): name, size and time only, no type, digest or uploader. A cache must not
	// keep it. Not stored.
	Derived bool `json:"-"`
}

// ExpiresByToken marks an expiry a Prosody token's expires claim stated: the file lifetime
// mod_http_file_share gives its uploads.
const ExpiresByToken = "token"

// ETag is a strong entity tag (RFC 9110 §8.8.3): the content hash when known, else size and
// modification time, which change whenever the bytes could have.
func (m Meta) ETag() string {
	if len(m.SHA256) >= 32 {
		return `"` + m.SHA256[:32] + `"`
	}
	return `"` + strconv.FormatInt(m.Size, 16) + "-" + strconv.FormatInt(m.Created.UnixNano(), 16) + `"`
}

// Store keeps complete files by name. Names are slash-separated relative paths that
// ValidName accepts.
type Store interface {
	// Create starts writing a new file. Its bytes are invisible until Commit.
	Create(ctx context.Context, name string) (Writer, error)
	// Open returns a complete file for reading, or ErrNotFound.
	Open(ctx context.Context, name string) (Object, error)
	// Stat returns a complete file's metadata, or ErrNotFound.
	Stat(ctx context.Context, name string) (Meta, error)
	// Delete removes a complete file and its metadata, or returns ErrNotFound.
	Delete(ctx context.Context, name string) error
}

// Writer receives the bytes of one upload.
type Writer interface {
	io.Writer
	// Written is how many bytes were accepted so far.
	Written() int64
	// Commit makes the file durable and visible under its name, atomically and without
	// replacing an existing file (ErrExists). meta's Name, Size, SHA256 and Created are filled
	// in by the store; the stored metadata is returned.
	Commit(ctx context.Context, meta Meta) (Meta, error)
	// Abort discards everything written. It is safe after Commit (then a no-op).
	Abort() error
}

// Presigner is an optional capability of a Store: a URL at which the backing service serves
// a file itself (a presigned object-store URL), for redirecting downloads there.
type Presigner interface {
	PresignGet(ctx context.Context, name string, expiry time.Duration, contentType, disposition string) (string, error)
}

// Object is a complete file opened for reading.
type Object interface {
	// Content is the file's bytes. For local files it is an *os.File, so that
	// http.ServeContent can hand it to sendfile.
	Content() io.ReadSeeker
	Meta() Meta
	// ModTime is the Last-Modified time.
	ModTime() time.Time
	Close() error
}

// MaxNameLength bounds a name's length in bytes.
const MaxNameLength = 1024

// ValidName reports whether name is a safe relative file name: non-empty UTF-8, no NUL,
// control characters or backslashes, no leading slash, and no empty, "." or ".." segment.
// The local store also resolves every name through os.Root, so a name that slipped past
// this check still could not leave storage.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLength || !utf8.ValidString(name) {
		return fmt.Errorf("%w: empty, too long or not UTF-8", ErrInvalidName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: control character or backslash", ErrInvalidName)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return fmt.Errorf("%w: empty, dot or overlong path segment", ErrInvalidName)
		}
	}
	return nil
}
