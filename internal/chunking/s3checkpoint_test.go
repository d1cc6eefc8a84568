package chunking_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"fileserver/internal/chunking"
	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/storage/s3"
	"fileserver/internal/testpeers"
)

// On an object store a checkpoint waits for a part boundary: it costs a completed part, and
// writes no tail object of the bytes past it; only the request's end does.
func TestS3CheckpointsAtPartBoundaries(t *testing.T) {
	ctx := context.Background()
	endpoint := testpeers.S3(t)
	client, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(testpeers.S3AccessKey, testpeers.S3SecretKey, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(ctx, "aligned", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(ctx, s3.Options{Endpoint: endpoint, Bucket: "aligned", Region: "us-east-1", PathStyle: true,
		AccessKey: testpeers.S3AccessKey, SecretKey: testpeers.S3SecretKey, PartSize: s3.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sessions, _ := chunking.NewDirStore(root, false)
	u := chunking.New(sessions, st.Backend(), chunking.Options{TTL: time.Hour, CheckpointBytes: s3.MinPartSize / 3, Copier: chunktest.Copier{}})
	data := make([]byte, 3*s3.MinPartSize+12345)
	rand.Read(data)
	s, err := u.Create(ctx, chunking.Session{Target: "aligned.bin", Length: int64(len(data)) + 1})
	if err != nil {
		t.Fatal(err)
	}
	tails := func() int {
		n := 0
		for range client.ListObjects(ctx, "aligned", minio.ListObjectsOptions{Prefix: s3.PartialDir + "/", Recursive: true}) {
			n++
		}
		return n
	}
	var offsets []int64
	broke := errors.New("connection lost")
	req := chunking.AppendRequest{Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		for off := 0; off < len(data); off += 100_003 { // writes that never meet a boundary exactly
			if _, err := dst.Write(data[off:min(off+100_003, len(data))]); err != nil {
				return int64(off), err
			}
			got, _ := sessions.Get(ctx, s.ID)
			if len(offsets) == 0 || offsets[len(offsets)-1] != got.Offset {
				offsets = append(offsets, got.Offset)
			}
			if n := tails(); n > 0 {
				t.Fatalf("%d tail objects while streaming, after checkpoints at %v", n, offsets)
			}
		}
		return int64(len(data)), broke
	})}
	got, err := u.Append(ctx, s.ID, req)
	if !errors.Is(err, broke) || got.Offset != int64(len(data)) {
		t.Fatalf("append: %v, offset %d", err, got.Offset)
	}
	for _, o := range offsets {
		if o%s3.MinPartSize != 0 {
			t.Fatalf("checkpoint at %d, not at a part boundary (offsets %v)", o, offsets)
		}
	}
	if len(offsets) < 3 {
		t.Fatalf("checkpoints at %v, want one at each of the three parts", offsets)
	}
}
