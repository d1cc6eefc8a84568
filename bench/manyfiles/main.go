// Command manyfiles fills a fileserver data directory with many small stored files, as the
// server's own commits lay them out (data, sidecar, expiry index), for the benchmarks of
// what the number of stored files costs (bench/many-files.sh). Names look like XEP-0363
// slots: two hex characters, a random id, a file name. With -expired, the files it adds have
// an expiry of their own in the past, as a token's lifetime that ran out. With -s3-endpoint it
// fills a bucket instead, through the s3 backend's own writer (bench/many-objects.sh).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/storage"
	"fileserver/internal/storage/s3"
)

// creator is what both backends' stores offer for a commit.
type creator interface {
	Create(ctx context.Context, name string) (storage.Writer, error)
}

func main() {
	dir := flag.String("dir", "", "data directory (storage.path)")
	n := flag.Int("n", 1000, "files to add")
	size := flag.Int("size", 4096, "bytes per file")
	expired := flag.Bool("expired", false, "give the files an expiry of their own, an hour ago")
	workers := flag.Int("workers", 8, "files committed at once")
	var so s3.Options
	flag.StringVar(&so.Endpoint, "s3-endpoint", "", "fill this S3 store's bucket instead of -dir")
	flag.StringVar(&so.Bucket, "s3-bucket", "bench", "bucket (must exist)")
	flag.StringVar(&so.AccessKey, "s3-access", "", "access key")
	flag.StringVar(&so.SecretKey, "s3-secret", "", "secret key")
	flag.Parse()
	st, closeStore, err := open(*dir, so)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manyfiles:", err)
		os.Exit(2)
	}
	meta := storage.Meta{ContentType: "image/jpeg", Uploader: "bench@example.org"}
	if *expired {
		meta.Expires, meta.ExpiresBy = time.Now().Add(-time.Hour), storage.ExpiresByToken
	}
	body := make([]byte, *size)
	rand.Read(body)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				if err := put(st, body, meta); err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "manyfiles:", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	closeStore()
	fmt.Printf("added %d files in %.1f s (%d failed)\n", *n, time.Since(start).Seconds(), failed.Load())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

func open(dir string, so s3.Options) (creator, func(), error) {
	if so.Endpoint != "" {
		so.PathStyle, so.Region, so.Checksum = true, "us-east-1", true
		st, err := s3.Open(context.Background(), so)
		return st, func() {}, err
	}
	if dir == "" {
		return nil, nil, fmt.Errorf("-dir or -s3-endpoint is required")
	}
	st, err := storage.OpenLocal(dir, storage.LocalOptions{Checksum: true})
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

func put(st creator, body []byte, meta storage.Meta) error {
	var id [8]byte
	rand.Read(id[:])
	h := hex.EncodeToString(id[:])
	ctx := context.Background()
	w, err := st.Create(ctx, h[:2]+"/"+h+"/photo.jpg")
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit(ctx, meta)
	return err
}
