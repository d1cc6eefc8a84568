package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/storage"
)

// Defaults of Options.
const (
	// DefaultPartSize is the size of every part of a multipart upload but the last. 8 MiB is
	// what aws-cli uses; at S3's limit of 10,000 parts it allows objects up to 80 GiB.
	DefaultPartSize = 8 << 20
	// MinPartSize is S3's smallest part (but the last).
	MinPartSize = 5 << 20
	// DefaultConcurrency is how many parts of one upload are sent at once while the next one
	// is received.
	DefaultConcurrency = 2
	// maxParts is S3's limit on the parts of one multipart upload.
	maxParts = 10000
)

// Options configure a Store.
type Options struct {
	// Endpoint is the object store's URL: http://host:port or https://host.
	Endpoint string
	// Bucket holds the files; it must exist.
	Bucket string
	// Region is the bucket's region (us-east-1 for most S3-compatible servers).
	Region string
	// AccessKey and SecretKey are the credentials; both empty means anonymous requests.
	AccessKey, SecretKey string
	// PathStyle forces path-style requests (http://host/bucket/key); otherwise the client
	// picks (virtual-hosted for AWS, path-style for other endpoints).
	PathStyle bool
	// Prefix is put verbatim in front of every name to make its object key ("files/").
	Prefix string
	// Checksum computes a SHA-256 of every upload while it streams in.
	Checksum bool
	// PartSize is the size of multipart parts (DefaultPartSize when 0, at least MinPartSize).
	PartSize int
	// Concurrency is how many parts of one upload may be in flight (DefaultConcurrency when 0).
	Concurrency int
	// PublicEndpoint is the object store's URL as clients reach it, for presigned download
	// URLs; empty: Endpoint.
	PublicEndpoint string
	// UnsignedPayload sends request bodies as UNSIGNED-PAYLOAD over plain http too, as
	// over https (where TLS protects them), instead of signing every 64 KiB chunk.
	UnsignedPayload bool
	// Quota, when set, is charged with every committed upload (limits.daily_quota).
	Quota storage.QuotaBook
	// Budget, when set, is the memory budget part buffers are reserved from (the streaming
	// engine's pool), so that uploads to the object store share one bound with every other
	// buffer. nil: part buffers are not accounted.
	Budget *adaptivebuf.Pool
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
}

// Store keeps files as objects named Prefix + name in one bucket.
type Store struct {
	core minio.Core
	// presign signs download URLs for clients (on PublicEndpoint); no request goes out.
	presign *minio.Client
	bucket  string
	prefix  string
	opts    Options
	// parts recycles full-size part buffers between uploads.
	parts sync.Pool
}

var _ storage.Store = (*Store)(nil)

// Open connects to the object store and checks that the bucket exists: a missing bucket,
// bad credentials or an unreachable endpoint is an error here, at start-up, rather than on
// the first upload.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3: no bucket configured")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d", o.PartSize, MinPartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	client, err := newClient(o)
	if err != nil {
		return nil, err
	}
	s := &Store{core: minio.Core{Client: client}, presign: client, bucket: o.Bucket, prefix: o.Prefix, opts: o}
	if o.PublicEndpoint != "" {
		po := o
		po.Endpoint = o.PublicEndpoint
		if s.presign, err = newClient(po); err != nil {
			return nil, fmt.Errorf("s3: public endpoint: %w", err)
		}
	}
	s.parts.New = func() any { b := make([]byte, 0, o.PartSize); return &b }

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := client.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: check bucket %q at %s: %w", o.Bucket, o.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3: bucket %q does not exist at %s: create it first (fileserver does not create buckets)", o.Bucket, o.Endpoint)
	}
	return s, nil
}

// newClient makes the S3 client of o.
func newClient(o Options) (*minio.Client, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("s3: endpoint %q must be http://host[:port] or https://host[:port]", o.Endpoint)
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if o.AccessKey != "" || o.SecretKey != "" {
		creds = credentials.NewStaticV4(o.AccessKey, o.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    o.Transport,
		// A request that fails for want of a server is retried a few times, not the
		// client's default ten: an upload should fail within seconds when S3 is gone.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return client, nil
}

// key is the object key of a name.
func (s *Store) key(name string) string { return s.prefix + name }

// Create implements storage.Store. Nothing is sent to the object store until the first part
// is full: an upload smaller than a part becomes one PutObject at Commit.
func (s *Store) Create(ctx context.Context, name string) (storage.Writer, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := s.checkKeyLength(name); err != nil {
		return nil, err
	}
	return newWriter(ctx, s, name), nil
}

// Open implements storage.Store: it asks for the object's metadata at once and for its bytes
// only when they are read.
func (s *Store) Open(ctx context.Context, name string) (storage.Object, error) {
	info, err := s.stat(ctx, name)
	if err != nil {
		return nil, err
	}
	return &object{
		meta: metaOf(name, info),
		mod:  info.LastModified,
		r:    &rangeReader{ctx: ctx, store: s, key: s.key(name), etag: info.ETag, size: info.Size},
	}, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, name string) (storage.Meta, error) {
	info, err := s.stat(ctx, name)
	if err != nil {
		return storage.Meta{}, err
	}
	return metaOf(name, info), nil
}

func (s *Store) stat(ctx context.Context, name string) (minio.ObjectInfo, error) {
	if err := validName(name); err != nil {
		return minio.ObjectInfo{}, err
	}
	info, err := s.core.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{})
	if err != nil {
		return minio.ObjectInfo{}, mapErr("stat", err)
	}
	return info, nil
}

// Delete implements storage.Store. S3 deletes of a missing key succeed, so the object is
// looked up first to answer ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) error {
	if _, err := s.stat(ctx, name); err != nil {
		return err
	}
	if err := s.core.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{}); err != nil {
		return mapErr("delete", err)
	}
	return nil
}

// User metadata keys (sent as x-amz-meta-fs-*). Values are query-escaped, since header
// values must be ASCII and an uploader's JID need not be.
const (
	metaSHA256    = "Fs-Sha256"
	metaUploader  = "Fs-Uploader"
	metaExpires   = "Fs-Expires"
	metaExpiresBy = "Fs-Expires-By"
)

// userMetadata is what of meta is kept as user metadata; the content type is the object's own
// Content-Type, the size and time are the object's.
func userMetadata(meta storage.Meta) map[string]string {
	m := map[string]string{}
	if meta.SHA256 != "" {
		m[metaSHA256] = meta.SHA256
	}
	if meta.Uploader != "" {
		m[metaUploader] = url.QueryEscape(meta.Uploader)
	}
	if !meta.Expires.IsZero() {
		m[metaExpires] = meta.Expires.UTC().Format(time.RFC3339Nano)
	}
	if meta.ExpiresBy != "" {
		m[metaExpiresBy] = meta.ExpiresBy
	}
	return m
}

// metaOf reads a stored object's metadata back.
func metaOf(name string, info minio.ObjectInfo) storage.Meta {
	get := func(k string) string { return info.Metadata.Get("X-Amz-Meta-" + k) }
	m := storage.Meta{Name: name, Size: info.Size, Created: info.LastModified, SHA256: get(metaSHA256)}
	if ct := info.ContentType; ct != "" && ct != "binary/octet-stream" {
		m.ContentType = ct
	}
	if u, err := url.QueryUnescape(get(metaUploader)); err == nil {
		m.Uploader = u
	}
	if t, err := time.Parse(time.RFC3339Nano, get(metaExpires)); err == nil {
		m.Expires = t
	}
	m.ExpiresBy = get(metaExpiresBy)
	return m
}

// mapErr turns the object store's answers into storage's sentinels.
func mapErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3: %s: %w", op, err)
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch {
		case er.Code == "NoSuchKey" || er.Code == "NotFound" || er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket":
			return storage.ErrNotFound
		// If-None-Match: * failed (412), or lost a race with a concurrent conditional write
		// (AWS answers 409 ConditionalRequestConflict); versitygw's posix backend answers 409
		// when a path component of the name is an object or the name is a directory.
		case er.StatusCode == http.StatusPreconditionFailed, er.Code == "ConditionalRequestConflict",
			er.Code == "ObjectParentIsFile", er.Code == "ExistingObjectIsDirectory":
			return storage.ErrExists
		case er.StatusCode == http.StatusInsufficientStorage, er.Code == "QuotaExceeded", er.Code == "XMinioStorageFull":
			return storage.ErrNoSpace
		case er.Code == "KeyTooLongError":
			return storage.ErrInvalidName
		}
	}
	return fmt.Errorf("%w: s3: %s: %w", storage.ErrIO, op, err)
}

// Backend declares what the object store offers: files, partial uploads on multipart
// uploads, expiry, and downloads served by the object store at presigned URLs. Partial data
// does not read back (an unfinished multipart upload's parts are not readable, so tus
// concatenation is not offered), no free-space floor applies, and usage is not counted.
func (s *Store) Backend() storage.Backend {
	return storage.Backend{
		Name: "s3", Where: s.opts.Endpoint + "/" + s.bucket + "/" + s.prefix,
		Store: s, Partials: s, Reaper: s, Presigner: s, Quota: s.opts.Quota, List: s,
		PartSize: int64(s.opts.PartSize),
	}
}
