package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/storage"
)

// object is a stored file opened for reading.
type object struct {
	meta storage.Meta
	mod  time.Time
	r    *rangeReader
}

func (o *object) Content() io.ReadSeeker { return o.r }
func (o *object) Meta() storage.Meta     { return o.meta }
func (o *object) ModTime() time.Time     { return o.mod }
func (o *object) Close() error           { return o.r.Close() }

// rangeReader reads an object lazily: Seek only moves the position, and a Read at a position
// where no response body is open asks for the bytes from there to the end with a ranged
// GetObject. So http.ServeContent, which seeks to the start of each range it serves, costs
// one request per range and none for HEAD or 304 answers. Every request carries If-Match
// with the ETag seen at Open, so bytes of two different objects of one name (deleted and
// uploaded again in between) are never mixed: such a read fails instead.
type rangeReader struct {
	ctx   context.Context
	store *Store
	key   string
	etag  string
	size  int64
	pos   int64
	body  io.ReadCloser
	at    int64 // position of body's next byte
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body != nil && r.at != r.pos {
		r.body.Close()
		r.body = nil
	}
	if r.body == nil {
		var opts minio.GetObjectOptions
		if err := opts.SetRange(r.pos, r.size-1); err != nil {
			return 0, err
		}
		if r.etag != "" {
			opts.SetMatchETag(r.etag)
		}
		body, _, _, err := r.store.core.GetObject(r.ctx, r.store.bucket, r.key, opts)
		if err != nil {
			return 0, mapErr("get", err)
		}
		r.body, r.at = body, r.pos
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.at += int64(n)
	if errors.Is(err, io.EOF) && r.pos < r.size {
		err = fmt.Errorf("%w: s3: get: object ended at %d of %d bytes", storage.ErrIO, r.pos, r.size)
	} else if err != nil && !errors.Is(err, io.EOF) {
		err = mapErr("read", err)
	}
	return n, err
}

func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("s3: seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("s3: seek: negative position")
	}
	r.pos = offset
	return offset, nil
}

// Close releases the open response body, if any.
func (r *rangeReader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	return nil
}
