package main

import (
	"context"

	"fileserver/internal/config"
	"fileserver/internal/storage"
	s3store "fileserver/internal/storage/s3"
	"fileserver/internal/streaming"
)

// opener opens one storage backend from its configuration. engine, when not nil, is where
// a backend that buffers (an object store's parts) reserves memory, within the one budget;
// book is the daily-quota book an object store charges each commit to (the local store keeps
// its own). close releases what the backend holds.
type opener func(c config.Storage, engine *streaming.Engine, book storage.QuotaBook) (b storage.Backend, close func(), err error)

// backends are the storage backends by the name storage.backend gives: a new backend is its
// package and one entry here.
var backends = map[string]opener{
	"local": openLocal,
	"s3":    openS3,
}

// openStorage opens the backend the configuration names.
func openStorage(c config.Storage, engine *streaming.Engine, book storage.QuotaBook) (storage.Backend, func(), error) {
	open, ok := backends[c.Backend]
	if !ok {
		open = openLocal // config validation accepts no other name; "" is the default
	}
	return open(c, engine, book)
}

func openLocal(c config.Storage, _ *streaming.Engine, _ storage.QuotaBook) (storage.Backend, func(), error) {
	local, err := storage.OpenLocal(c.Path, storage.LocalOptions{
		Fsync: c.Fsync, Checksum: c.Checksum, Preallocate: c.Preallocate, MinFree: int64(c.MinFree), Dedup: c.Dedup && c.Checksum,
	})
	if err != nil {
		return storage.Backend{}, nil, err
	}
	return local.Backend(), func() { local.Close() }, nil
}

// openS3 opens the s3 backend; a missing bucket or an unreachable endpoint stops start-up.
func openS3(c config.Storage, engine *streaming.Engine, book storage.QuotaBook) (storage.Backend, func(), error) {
	access, secret, err := c.S3.Credentials()
	if err != nil {
		return storage.Backend{}, nil, err
	}
	o := s3store.Options{
		Endpoint: c.S3.Endpoint, Bucket: c.S3.Bucket, Region: c.S3.Region,
		AccessKey: access, SecretKey: secret, PathStyle: c.S3.PathStyle, Prefix: c.S3.Prefix,
		Checksum: c.Checksum, PartSize: int(c.S3.PartSize), Concurrency: c.S3.Concurrency,
		UnsignedPayload: c.S3.UnsignedPayload, Quota: book, PublicEndpoint: c.S3.PublicEndpoint,
	}
	if engine != nil {
		o.Budget = engine.Pool() // part buffers share the one memory budget
	}
	st, err := s3store.Open(context.Background(), o)
	if err != nil {
		return storage.Backend{}, nil, err // it names the endpoint and bucket
	}
	return st.Backend(), func() {}, nil
}
