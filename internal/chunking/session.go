package chunking

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fileserver/internal/storage"
)

// Sentinel errors callers branch on.
var (
	// ErrRefused marks a judgement of an upload's bytes (Options.Scan) that stands: the
	// upload is refused for good.
	ErrRefused  = errors.New("chunking: the upload's content is refused")
	ErrNotFound = errors.New("chunking: no such upload")
	ErrExpired  = errors.New("chunking: upload expired")
	// ErrCompleted: the upload is complete and takes no more data.
	ErrCompleted = errors.New("chunking: upload already complete")
	// ErrLengthMismatch: a request declares a length other than the upload's.
	ErrLengthMismatch = errors.New("chunking: inconsistent upload length")
	// ErrTooLarge: the upload would exceed its length or the size limit.
	ErrTooLarge = errors.New("chunking: upload exceeds its length or the size limit")
	// ErrChecksum: the appended data does not match the checksum the client sent.
	ErrChecksum = errors.New("chunking: checksum mismatch")
	// ErrHandedOff: a newer request for the same upload took over.
	ErrHandedOff = errors.New("chunking: a newer request took over this upload")
	// ErrShutdown: the server is stopping; the request was cut off after recording what it
	// received (Uploads.Interrupt).
	ErrShutdown = errors.New("chunking: the server is stopping")
	// ErrBusy: another request is still writing the upload (and was not cut off: it is
	// receiving bytes, and the new request did not force a take-over).
	ErrBusy = errors.New("chunking: another request is writing this upload")
	// ErrFenced: the request lost its lease on the upload (another request, possibly on
	// another node, holds it now), so its write was refused.
	ErrFenced = errors.New("chunking: lease on the upload lost to another request")
)

// OffsetError is the offset conflict: the client's offset is not the upload's.
type OffsetError struct {
	Expected, Provided int64
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("chunking: offset %d does not match the upload's offset %d", e.Provided, e.Expected)
}

// Session is the durable state of one resumable upload.
type Session struct {
	ID       string `json:"id"`
	Protocol string `json:"protocol"`
	// Target is the storage name the upload is committed to when complete; empty for a tus
	// partial upload, which is only ever concatenated.
	Target string `json:"target,omitempty"`
	// Length is the total size, or -1 while deferred.
	Length int64 `json:"length"`
	// Offset counts the bytes received and made durable.
	Offset   int64             `json:"offset"`
	Created  time.Time         `json:"created"`
	Expires  time.Time         `json:"expires"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// RawMetadata is tus's Upload-Metadata as the client sent it, echoed back on HEAD.
	RawMetadata string `json:"raw_metadata,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Uploader    string `json:"uploader,omitempty"`
	// FileExpires is when the committed file should be removed (a token's expires claim).
	FileExpires time.Time `json:"file_expires,omitzero"`
	// ResumeBy, when set, is the last moment a request may add to the upload: the expiry of
	// the signed URL that created it (a v3 URL's), which bounds when the upload may be
	// started and resumed, never how long its file lives. Later requests find it expired.
	ResumeBy time.Time `json:"resume_by,omitzero"`
	// Partial marks a tus partial upload (Upload-Concat: partial).
	Partial bool `json:"partial,omitempty"`
	// Parts lists the partial uploads a tus final upload concatenates.
	Parts []string `json:"parts,omitempty"`
	// PartialState is where the storage keeps the acknowledged data (storage.Partial.State):
	// nil on local disk; the multipart upload, its parts and the tail object on S3.
	PartialState json.RawMessage `json:"partial_state,omitempty"`
	// HashState is the running SHA-256 of bytes [0, Offset), as MarshalBinary gives it.
	HashState []byte `json:"hash_state,omitempty"`
	// Completed is set once the file is committed; SHA256 is then its digest.
	Completed bool   `json:"completed,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	// Scanned is the malware scan's verdict at the commit this request made, for the
	// Committed hook; never recorded.
	Scanned string `json:"-"`
	// Refused marks an upload whose content was refused for good (Options.Scan): its data
	// went with the refusal, and every later request is answered ErrRefused until the
	// session expires.
	Refused bool `json:"refused,omitempty"`
}

// ref names the session's partial data.
func (s *Session) ref() storage.PartialRef {
	return storage.PartialRef{ID: s.ID, Target: s.Target, State: s.PartialState}
}

// refUnder is ref for writing under lease: what the storage publishes is checked against it.
func (s *Session) refUnder(lease Lease) storage.PartialRef {
	r := s.ref()
	r.Guard = lease.guard()
	return r
}

// Deadline is when the upload stops taking data: its expiry, or the expiry of the URL that
// created it when that is earlier (ResumeBy).
func (s *Session) Deadline() time.Time {
	if !s.ResumeBy.IsZero() && s.ResumeBy.Before(s.Expires) {
		return s.ResumeBy
	}
	return s.Expires
}

// Remaining is how many more bytes the upload takes, or -1 when its length is deferred.
func (s *Session) Remaining() int64 {
	if s.Length < 0 {
		return -1
	}
	return s.Length - s.Offset
}

// NewID returns an unguessable upload id: the upload URL is a capability.
func NewID() string { return storage.RandomID() }
