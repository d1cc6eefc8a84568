package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/storage"
)

// The expiry index lets the reaper find the objects whose time may be up without listing the
// bucket: a pass costs what the expired objects cost, whatever the number stored.
//
// It is a set of empty marker objects under IndexDir: every commit writes one for the hour
// the object is created in (c/HOUR/NAME), and one for the hour of the object's own expiry
// when it has one (e/HOUR/NAME), before the object is completed, so an object that exists
// always has its markers. HOUR is the hour's Unix time, zero-padded, so the markers list in
// time order. A marker is a hint, never the truth: the reaper reads the object's own
// metadata (a HEAD) before it removes anything, and a marker of an object since removed or
// replaced is dropped.
//
// A c-marker may name a due object once its hour plus upload.ttl has passed (upload.ttl is
// read at each pass); an e-marker once its hour has. The reaper lists those markers only.
//
// Objects stored before the index existed have no markers: until one whole pass has run (the
// first one after an upgrade lists the bucket, as every pass did before, and writes the
// markers of what it keeps), Reap lists everything.

// IndexDir is the first path segment of the expiry index's keys (after Options.Prefix). No
// file may be named under it.
const IndexDir = ".fileserver-index"

const (
	indexBucket = time.Hour
	hourDigits  = 12
)

func (s *Store) indexPrefix(kind string) string { return s.prefix + IndexDir + "/expiry/" + kind + "/" }
func (s *Store) builtKey() string               { return s.prefix + IndexDir + "/expiry.built" }

// markerKey is the key of name's marker of kind "c" or "e" for time t.
func (s *Store) markerKey(kind string, t time.Time, name string) string {
	h := strconv.FormatInt(t.Truncate(indexBucket).Unix(), 10)
	return s.indexPrefix(kind) + strings.Repeat("0", max(0, hourDigits-len(h))) + h + "/" + name
}

// parseMarker is the hour and name a marker key under indexPrefix(kind) names.
func (s *Store) parseMarker(kind, key string) (time.Time, string, bool) {
	rest, ok := strings.CutPrefix(key, s.indexPrefix(kind))
	if !ok {
		return time.Time{}, "", false
	}
	h, name, ok := strings.Cut(rest, "/")
	sec, err := strconv.ParseInt(h, 10, 64)
	if !ok || err != nil || validName(name) != nil {
		return time.Time{}, "", false
	}
	return time.Unix(sec, 0), name, true
}

func (s *Store) putMarker(ctx context.Context, key string) error {
	_, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(nil), 0, "", "", minio.PutObjectOptions{})
	if err != nil {
		return mapErr("write expiry index", err)
	}
	return nil
}

// mark writes the markers of an object about to be created now with its own expiry (zero:
// none). An expiry already past is marked in the creation hour.
func (s *Store) mark(ctx context.Context, name string, now, expires time.Time) error {
	if err := s.putMarker(ctx, s.markerKey("c", now, name)); err != nil {
		return err
	}
	if expires.IsZero() {
		return nil
	}
	return s.putMarker(ctx, s.markerKey("e", maxTime(expires, now), name))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// indexBuilt tells whether a whole pass has written the markers of every object.
func (s *Store) indexBuilt(ctx context.Context) (bool, error) {
	_, err := s.core.StatObject(ctx, s.bucket, s.builtKey(), minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if errors.Is(mapErr("stat", err), storage.ErrNotFound) {
		return false, nil
	}
	return false, mapErr("stat expiry index", err)
}

// reapIndexed is a pass over the markers that may name due objects: c-markers of the hours
// at least ttl ago (none when ttl is 0), e-markers of the hours up to now.
func (s *Store) reapIndexed(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool) (storage.ReapResult, error) {
	var res storage.ReapResult
	if ttl > 0 {
		if err := s.eachMarker(ctx, "c", now.Add(-ttl), func(hour time.Time, name, key string) error {
			return s.reapMarked(ctx, &res, key, name, now, ttl, dryRun, func(info minio.ObjectInfo) (bool, time.Time) {
				// The object is younger than this marker's hour (created again, or its metadata
				// rewritten, which gives it a new Last-Modified on most stores): its creation
				// is marked again at its own hour, and this marker goes.
				if info.LastModified.Truncate(indexBucket).After(hour.Add(indexBucket)) {
					return true, info.LastModified
				}
				return false, time.Time{}
			})
		}); err != nil {
			return res, err
		}
	}
	err := s.eachMarker(ctx, "e", now, func(hour time.Time, name, key string) error {
		return s.reapMarked(ctx, &res, key, name, now, ttl, dryRun, func(info minio.ObjectInfo) (bool, time.Time) {
			own := metaOf(name, info).Expires
			return own.IsZero() || !own.Truncate(indexBucket).Equal(hour) && own.After(hour), time.Time{}
		})
	})
	return res, err
}

// eachMarker calls f for every marker of kind whose hour is not after until, in time order.
func (s *Store) eachMarker(ctx context.Context, kind string, until time.Time, f func(hour time.Time, name, key string) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing at the first hour after until
	for obj := range s.core.Client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.indexPrefix(kind), Recursive: true}) {
		if obj.Err != nil {
			return mapErr("list expiry index", obj.Err)
		}
		hour, name, ok := s.parseMarker(kind, obj.Key)
		if !ok {
			continue
		}
		if hour.After(until) {
			return nil
		}
		if err := f(hour, name, obj.Key); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// reapMarked checks the object a marker names: gone, or stale by the marker's own rule, the
// marker goes (after a creation marker of the hour stale names, when it names one); due, the
// object and the marker go; not yet due, both stay.
func (s *Store) reapMarked(ctx context.Context, res *storage.ReapResult, key, name string, now time.Time, ttl time.Duration,
	dryRun bool, stale func(minio.ObjectInfo) (bool, time.Time)) error {
	info, err := s.core.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{})
	if err != nil {
		if !errors.Is(mapErr("stat", err), storage.ErrNotFound) {
			return mapErr("stat", err)
		}
		return s.dropMarker(ctx, key, dryRun)
	}
	meta := metaOf(name, info)
	if storage.URLExpiry(meta) {
		res.Kept = append(res.Kept, name)
		if !dryRun {
			if err := s.dropExpiry(ctx, minio.ObjectInfo{Key: info.Key, UserMetadataStripped: info.UserMetadata}); err != nil {
				return err
			}
		}
		meta.Expires = time.Time{}
	}
	expires := storage.Deadline(info.LastModified, meta.Expires, ttl)
	if expires.IsZero() || now.Before(expires) {
		isStale, remark := stale(info)
		if !isStale {
			return nil
		}
		if !remark.IsZero() && !dryRun {
			if err := s.putMarker(ctx, s.markerKey("c", remark, name)); err != nil {
				return err
			}
		}
		return s.dropMarker(ctx, key, dryRun)
	}
	if !dryRun {
		if err := s.core.RemoveObject(ctx, s.bucket, info.Key, minio.RemoveObjectOptions{}); err != nil {
			return mapErr("delete", err)
		}
	}
	res.Files = append(res.Files, storage.Expired{Name: name, Size: info.Size, Expires: expires})
	res.Bytes += info.Size
	return s.dropMarker(ctx, key, dryRun)
}

func (s *Store) dropMarker(ctx context.Context, key string, dryRun bool) error {
	if dryRun {
		return nil
	}
	if err := s.core.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return mapErr("delete expiry index marker", err)
	}
	return nil
}

// indexKept writes the markers of an object the whole pass keeps. Its own expiry comes from
// the listing where the store lists metadata, else from a HEAD.
func (s *Store) indexKept(ctx context.Context, name string, obj minio.ObjectInfo) error {
	own := time.Time{}
	if obj.UserMetadataStripped != nil {
		own, _ = time.Parse(time.RFC3339Nano, obj.UserMetadataStripped[metaExpires])
	} else {
		info, err := s.core.StatObject(ctx, s.bucket, obj.Key, minio.StatObjectOptions{})
		if err != nil {
			if errors.Is(mapErr("stat", err), storage.ErrNotFound) {
				return nil
			}
			return mapErr("stat", err)
		}
		own = metaOf(name, info).Expires
	}
	if err := s.putMarker(ctx, s.markerKey("c", obj.LastModified, name)); err != nil {
		return err
	}
	if own.IsZero() {
		return nil
	}
	return s.putMarker(ctx, s.markerKey("e", maxTime(own, obj.LastModified), name))
}

// markerRoom is what an object key may be at most for its markers' keys to fit S3's limit of
// 1024 bytes (a marker key adds IndexDir, "/expiry/c/", the hour and a slash).
func (s *Store) markerRoom() int { return 1024 - len(s.prefix+IndexDir+"/expiry/c/") - hourDigits - 1 }

// checkKeyLength refuses a name whose markers' keys would not fit: the refusal comes before
// the upload's body, not at its commit.
func (s *Store) checkKeyLength(name string) error {
	if len(name) > s.markerRoom() {
		return fmt.Errorf("%w: names of more than %d bytes cannot be stored in this bucket", storage.ErrInvalidName, s.markerRoom())
	}
	return nil
}

func (s *Store) markBuilt(ctx context.Context) error {
	if err := s.putMarker(ctx, s.builtKey()); err != nil {
		return fmt.Errorf("mark the expiry index built: %w", err)
	}
	return nil
}
