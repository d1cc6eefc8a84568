package chunking_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/chunking"
	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/storage/s3"
	"fileserver/internal/testpeers"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// A store that takes part of a write and then fails (here: the memory budget refuses an
// object store's next part buffer) leaves the upload at the bytes it took, and the running
// digest covers exactly those: the committed file's SHA-256 is its own.
func TestDigestCoversWhatAFailedWriteKept(t *testing.T) {
	endpoint := testpeers.S3(t)
	client, err := minio.New(endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(testpeers.S3AccessKey, testpeers.S3SecretKey, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.MakeBucket(context.Background(), "digest", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	node := func(budget int64) *chunking.Uploads {
		st, err := s3.Open(context.Background(), s3.Options{
			Endpoint: endpoint, Bucket: "digest", Region: "us-east-1", PathStyle: true,
			AccessKey: testpeers.S3AccessKey, SecretKey: testpeers.S3SecretKey, PartSize: s3.MinPartSize,
			Budget: adaptivebuf.New(adaptivebuf.Options{Budget: budget, Policy: adaptivebuf.Refuse}),
		})
		if err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		sessions, err := chunking.NewDirStore(root, false)
		if err != nil {
			t.Fatal(err)
		}
		return chunking.New(sessions, st.Backend(), chunking.Options{TTL: time.Hour, Copier: chunktest.Copier{}})
	}
	tight, roomy := node(256<<10), node(64<<20) // 256 KiB: the first 64 KiB buffer, no part

	data := make([]byte, 300_000)
	rand.Read(data)
	ctx := context.Background()
	// The length is declared only at the end: an announced length would size the first
	// buffer for it at once (storage.Reserver), and the tight budget would refuse it whole.
	s, err := tight.Create(ctx, chunking.Session{Target: "digest.bin", Length: -1})
	if err != nil {
		t.Fatal(err)
	}
	body := func(b []byte) func(io.Writer, int64) (int64, error) {
		return func(dst io.Writer, _ int64) (int64, error) {
			var total int64
			for len(b) > 0 { // in 20000-byte reads, as a body arrives
				n, err := dst.Write(b[:min(len(b), 20000)])
				total += int64(n)
				if err != nil {
					return total, err
				}
				b = b[n:]
			}
			return total, nil
		}
	}
	got, err := tight.Append(ctx, s.ID, chunking.AppendRequest{Length: -1, Body: chunktest.Script(body(data[:100_000]))})
	if !errors.Is(err, adaptivebuf.ErrBudget) || got.Offset == 0 || got.Offset >= 100_000 {
		t.Fatalf("append on a budget that refuses the part buffer: offset %d, %v", got.Offset, err)
	}
	fin, err := roomy.Append(ctx, s.ID, chunking.AppendRequest{Offset: got.Offset, Length: int64(len(data)), Body: chunktest.Script(body(data[got.Offset:]))})
	if err != nil || !fin.Completed {
		t.Fatalf("finishing: %v %+v", err, fin)
	}
	sum := sha256.Sum256(data)
	if fin.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %s, the bytes' is %x (the failed write kept %d bytes)", fin.SHA256, sum, got.Offset)
	}
	obj, err := client.GetObject(ctx, "digest", "digest.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj)
	if !bytes.Equal(stored, data) {
		t.Fatal("stored bytes differ")
	}
}
