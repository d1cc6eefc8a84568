// Command s3put is the peer of bench/s3.sh: it writes a file straight into an S3 store with
// minio-go's PutObject, as an application that talks S3 itself would, and prints
// "seconds cpu-seconds peak-rss-KiB": the call's wall time, then this process's user+system
// time and VmHWM.
//
//	s3put -endpoint http://127.0.0.1:7070 -bucket bench -access K -secret S -file F [-key NAME]
//	      [-part-size BYTES] [-threads N] [-unsigned]
//
// The file is passed as an *os.File with its size known, so minio-go takes its parallel
// ReadAt path: for 1 GiB and default options, 64 parts of 16 MiB read by 4 goroutines straight
// from the file (no part buffers). -part-size and -threads override PartSize and NumThreads
// (0 keeps minio-go's choice); -unsigned sends UNSIGNED-PAYLOAD instead of signing every
// chunk (DisableContentSha256). The client is the same one fileserver's s3 backend uses:
// path-style, plain http, streaming SigV4 (a SHA-256 per 64 KiB chunk), at most 3 retries.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "s3put:", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint := flag.String("endpoint", "", "S3 endpoint, http://host:port")
	bucket := flag.String("bucket", "bench", "bucket (must exist)")
	access := flag.String("access", "", "access key")
	secret := flag.String("secret", "", "secret key")
	file := flag.String("file", "", "file to upload")
	key := flag.String("key", "", "object key (default: the file's base name)")
	partSize := flag.Uint64("part-size", 0, "PutObjectOptions.PartSize in bytes (0: minio-go's default)")
	threads := flag.Uint("threads", 0, "PutObjectOptions.NumThreads (0: minio-go's default)")
	unsigned := flag.Bool("unsigned", false, "send parts as UNSIGNED-PAYLOAD (DisableContentSha256) instead of streaming SigV4")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if *endpoint == "" || *file == "" {
		return fmt.Errorf("-endpoint and -file are required")
	}
	if *key == "" {
		*key = filepath.Base(*file)
	}
	u, err := url.Parse(*endpoint)
	if err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(*access, *secret, ""),
		Secure:       u.Scheme == "https",
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   3,
	})
	if err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	info, err := client.PutObject(ctx, *bucket, *key, f, fi.Size(), minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    *partSize,
		NumThreads:  *threads,

		DisableContentSha256: *unsigned,
	})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("put %s: %w", *key, err)
	}
	if info.Size != fi.Size() {
		return fmt.Errorf("put %s: stored %d bytes of %d", *key, info.Size, fi.Size())
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return err
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// Maxrss is in KiB on Linux.
	fmt.Printf("%.3f %.3f %d\n", elapsed.Seconds(), cpu.Seconds(), ru.Maxrss)
	return nil
}
