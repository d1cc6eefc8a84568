package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"fileserver/internal/chunking"
	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/storage/s3"
	"fileserver/internal/testpeers"
)

// A node that lost its lease on an upload (it stalled past the lease, and another node took
// the upload) sends no more parts to the object store: each part is checked against the
// lease first, so it cannot write over the parts the new holder records.
func TestLostLeaseSendsNoParts(t *testing.T) {
	ctx := context.Background()
	endpoint := testpeers.S3(t)
	client, err := minio.New(endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(testpeers.S3AccessKey, testpeers.S3SecretKey, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(ctx, "fence", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(ctx, s3.Options{Endpoint: endpoint, Bucket: "fence", Region: "us-east-1", PathStyle: true,
		AccessKey: testpeers.S3AccessKey, SecretKey: testpeers.S3SecretKey, PartSize: s3.MinPartSize, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	rs := openStore(t, testpeers.Redis(t), Options{})
	// A checkpoint every part records the multipart upload, so that it stays for the count.
	u := chunking.New(rs, st.Backend(), chunking.Options{TTL: time.Hour, Locker: rs, CheckpointBytes: s3.MinPartSize, Copier: chunktest.Copier{}})
	data := make([]byte, 4*s3.MinPartSize)
	rand.Read(data)
	s, err := u.Create(ctx, chunking.Session{Protocol: "tus", Target: "fenced.bin", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	req := chunking.AppendRequest{Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		n, err := dst.Write(data[:2*s3.MinPartSize+1000]) // one part sent, a second on its way
		if err != nil {
			return int64(n), err
		}
		// Another node takes the lock over, as after this node stalled past its lease.
		if err := rs.rdb.Set(ctx, rs.lockKey(s.ID), 1<<50, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		m, err := dst.Write(data[n:])
		return int64(n + m), err
	})}
	_, err = u.Append(ctx, s.ID, req)
	if !errors.Is(err, chunking.ErrFenced) {
		t.Fatalf("append after the lease was lost: %v, want ErrFenced", err)
	}
	var parts int
	for up := range client.ListIncompleteUploads(ctx, "fence", "fenced.bin", true) {
		res, err := (&minio.Core{Client: client}).ListObjectParts(ctx, "fence", "fenced.bin", up.UploadID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		parts += len(res.ObjectParts)
	}
	if parts > 2 {
		t.Fatalf("%d parts were sent; after the lease was lost no part may be sent (at most the 2 before it)", parts)
	}
}
