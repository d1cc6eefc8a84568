package s3

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/storage"
)

// Reap removes files whose time is up, as the local store's reaper does: when ttl > 0, those
// stored more than ttl ago (by the object's Last-Modified), and those whose own expiry (a
// token's expires claim) has passed. It reads the expiry index (see expiry.go); until the
// index holds every object, it lists the whole bucket and writes the index as it goes (not in
// a dry run). Objects of uploads in progress (under PartialDir), the index itself and keys
// that are no valid file name are left alone. With dryRun it only reports.
func (s *Store) Reap(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool) (storage.ReapResult, error) {
	built, err := s.indexBuilt(ctx)
	if err != nil {
		return storage.ReapResult{}, err
	}
	if built {
		return s.reapIndexed(ctx, now, ttl, dryRun)
	}
	res, err := s.reapAll(ctx, now, ttl, dryRun)
	if err == nil && !dryRun {
		err = s.markBuilt(ctx)
	}
	return res, err
}

// reapAll is a pass over the whole bucket; its own expiry is seen only where the store lists
// user metadata (MinIO does, with its list extension) or, when it builds the index, by a HEAD
// of every object kept.
func (s *Store) reapAll(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool) (storage.ReapResult, error) {
	var res storage.ReapResult
	for obj := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true, WithMetadata: true}) {
		if obj.Err != nil {
			return res, mapErr("list", obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if validName(name) != nil {
			continue
		}
		own, err := time.Parse(time.RFC3339Nano, obj.UserMetadataStripped[metaExpires])
		if err != nil {
			own = time.Time{}
		}
		uploader, _ := url.QueryUnescape(obj.UserMetadataStripped[metaUploader])
		if !own.IsZero() && storage.URLExpiry(storage.Meta{Expires: own, Uploader: uploader, ExpiresBy: obj.UserMetadataStripped[metaExpiresBy]}) {
			res.Kept = append(res.Kept, name)
			if !dryRun {
				if err := s.dropExpiry(ctx, obj); err != nil {
					return res, err
				}
			}
			own = time.Time{}
		}
		expires := storage.Deadline(obj.LastModified, own, ttl)
		if expires.IsZero() || now.Before(expires) {
			if !dryRun {
				if err := s.indexKept(ctx, name, obj); err != nil {
					// One object whose markers cannot be written (a key too long for them)
					// must not keep the others from being indexed and reaped: it is left
					// out of the index (reported), and only a bucket lifecycle rule expires it.
					res.Unindexed = append(res.Unindexed, name)
				}
			}
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

// dropExpiry rewrites an object's metadata without its expiry (see storage.URLExpiry), in
// place, keeping its content type and other metadata.
func (s *Store) dropExpiry(ctx context.Context, obj minio.ObjectInfo) error {
	info, err := s.core.Client.StatObject(ctx, s.bucket, obj.Key, minio.StatObjectOptions{})
	if err != nil {
		return mapErr("stat", err)
	}
	meta := map[string]string{}
	for k, v := range obj.UserMetadataStripped {
		if k != metaExpires {
			meta[k] = v
		}
	}
	_, err = s.core.Client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: obj.Key, UserMetadata: meta, ReplaceMetadata: true, ContentType: info.ContentType},
		minio.CopySrcOptions{Bucket: s.bucket, Object: obj.Key})
	if err != nil {
		return mapErr("rewrite metadata", err)
	}
	return nil
}

// List implements storage.Lister: the files in key order, each described by a HEAD (what a
// listing returns lacks the metadata), so a page costs a request per file it examines.
func (s *Store) List(ctx context.Context, q storage.ListQuery) (storage.ListPage, error) {
	var page storage.ListPage
	opts := minio.ListObjectsOptions{Prefix: s.prefix + q.Prefix, Recursive: true}
	if q.After != "" {
		opts.StartAfter = s.key(q.After)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing's goroutine when the page ends early
	scanned := 0
	for obj := range s.core.Client.ListObjects(lctx, s.bucket, opts) {
		if obj.Err != nil {
			return storage.ListPage{}, mapErr("list", obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if validName(name) != nil {
			continue
		}
		if q.MaxScan > 0 && scanned >= q.MaxScan {
			return page, nil
		}
		scanned++
		page.Next = name
		m, err := s.Stat(ctx, name)
		if err != nil {
			continue // removed since the listing
		}
		if q.Match != nil && !q.Match(m) {
			continue
		}
		page.Files = append(page.Files, m)
		if q.Limit > 0 && len(page.Files) >= q.Limit {
			return page, nil
		}
	}
	page.Next = ""
	return page, ctx.Err()
}
