package s3

import (
	"context"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/storage"
)

// Reap removes files whose time is up, as the local store's reaper does: when ttl > 0, those
// stored more than ttl ago (by the object's Last-Modified, from the listing), and those whose
// own expiry (a token's expires claim) has passed, where the object store lists user
// metadata (MinIO does, with its list extension; for others a bucket lifecycle rule is the
// way to expire files by age). Objects of uploads in progress (under PartialDir) and keys
// that are no valid file name are left alone. With dryRun it only reports.
func (s *Store) Reap(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool) (storage.ReapResult, error) {
	var res storage.ReapResult
	for obj := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true, WithMetadata: true}) {
		if obj.Err != nil {
			return res, mapErr("list", obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if validName(name) != nil {
			continue
		}
		var expires time.Time
		if ttl > 0 {
			expires = obj.LastModified.Add(ttl)
		}
		if t, err := time.Parse(time.RFC3339Nano, obj.UserMetadataStripped[metaExpires]); err == nil && (expires.IsZero() || t.Before(expires)) {
			expires = t
		}
		if expires.IsZero() || now.Before(expires) {
			continue
		}
		if !dryRun {
			if err := s.core.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
				return res, mapErr("delete", err)
			}
		}
		res.Files = append(res.Files, storage.Expired{Name: name, Size: obj.Size, Expires: expires})
		res.Bytes += obj.Size
	}
	return res, ctx.Err()
}
