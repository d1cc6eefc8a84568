package s3

import (
	"context"
	"net/url"
	"time"

	"fileserver/internal/storage"
)

// PresignGet returns a URL at which the object store itself serves the file name for expiry,
// answering with the given Content-Type and Content-Disposition (S3's response-* parameters),
// so a download can be redirected there instead of passing through this server. The URL is
// signed for GET only. Nothing is sent to the object store.
func (s *Store) PresignGet(ctx context.Context, name string, expiry time.Duration, contentType, disposition string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	q := url.Values{}
	if contentType != "" {
		q.Set("response-content-type", contentType)
	}
	if disposition != "" {
		q.Set("response-content-disposition", disposition)
	}
	u, err := s.presign.PresignedGetObject(ctx, s.bucket, s.key(name), expiry, q)
	if err != nil {
		return "", mapErr("presign", err)
	}
	return u.String(), nil
}

var _ storage.Presigner = (*Store)(nil)
