package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/storage"
	"fileserver/internal/testpeers"
)

// These tests run against a real S3-compatible server: the one named by FILESERVER_TEST_S3
// (an endpoint URL such as http://127.0.0.1:7070, credentials in FILESERVER_TEST_S3_ACCESS_KEY
// and FILESERVER_TEST_S3_SECRET_KEY), or else a versitygw each test starts (testpeers.S3).
// Each test makes a bucket of its own.
func testOptions(t *testing.T) Options {
	t.Helper()
	endpoint := os.Getenv("FILESERVER_TEST_S3")
	access, secret := os.Getenv("FILESERVER_TEST_S3_ACCESS_KEY"), os.Getenv("FILESERVER_TEST_S3_SECRET_KEY")
	if endpoint == "" {
		endpoint, access, secret = testpeers.S3(t), testpeers.S3AccessKey, testpeers.S3SecretKey
	}
	o := Options{
		Endpoint:  endpoint,
		Region:    "us-east-1",
		AccessKey: access,
		SecretKey: secret,
		PathStyle: true,
		Prefix:    "files/",
		Checksum:  true,
		PartSize:  MinPartSize,
		Bucket:    "fs-test-" + strings.ToLower(hex.EncodeToString(randomBytes(t, 6))),
	}
	client, err := newClient(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	t.Cleanup(func() {
		for obj := range client.ListObjects(ctx, o.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			client.RemoveObject(ctx, o.Bucket, obj.Key, minio.RemoveObjectOptions{})
		}
		client.RemoveBucket(ctx, o.Bucket)
	})
	return o
}

func openStore(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// put writes data in pieces of uneven size, as a network body arrives, and commits it.
func put(t *testing.T, s *Store, name string, data []byte, meta storage.Meta) (storage.Meta, error) {
	t.Helper()
	w, err := s.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for rest, step := data, 1000; len(rest) > 0; step = step*3 + 7 {
		c := min(step%(3<<20)+1, len(rest))
		if _, err := w.Write(rest[:c]); err != nil {
			return storage.Meta{}, err
		}
		rest = rest[c:]
	}
	if w.Written() != int64(len(data)) {
		t.Fatalf("Written %d, want %d", w.Written(), len(data))
	}
	return w.Commit(context.Background(), meta)
}

func read(t *testing.T, s *Store, name string) ([]byte, storage.Meta) {
	t.Helper()
	obj, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj.Content())
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return got, obj.Meta()
}

func TestRoundTrip(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty.bin", 0},
		{"small/photo.jpg", 4096},
		{"one-part.bin", MinPartSize},             // exactly one part: a single PutObject
		{"multi/part.bin", 2*MinPartSize + 12345}, // three parts, the last one short
		{"multi/even.bin", 2 * MinPartSize},       // two full parts
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(t, tc.size)
			sum := sha256.Sum256(data)
			in := storage.Meta{ContentType: "image/jpeg", Uploader: "jürgen@example.org", Expires: expires}
			got, err := put(t, s, tc.name, data, in)
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			if got.Name != tc.name || got.Size != int64(tc.size) || got.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("committed meta %+v", got)
			}
			back, meta := read(t, s, tc.name)
			if !bytes.Equal(back, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(back), len(data))
			}
			if meta.ContentType != in.ContentType || meta.Uploader != in.Uploader || !meta.Expires.Equal(expires) ||
				meta.SHA256 != got.SHA256 || meta.Size != int64(tc.size) || meta.Created.IsZero() {
				t.Fatalf("stored meta %+v, want %+v", meta, got)
			}
			st, err := s.Stat(context.Background(), tc.name)
			if err != nil || st != meta {
				t.Fatalf("Stat = %+v, %v; Open's meta %+v", st, err, meta)
			}
		})
	}
	// Keys are prefix + name, and each file's two markers in the expiry index (its creation
	// hour, its own expiry's hour); nothing else (no multipart leftovers) is in the bucket.
	c, _ := newClient(o)
	var keys, markers []string
	for obj := range c.ListObjects(context.Background(), o.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if strings.HasPrefix(obj.Key, o.Prefix+IndexDir+"/expiry/") {
			markers = append(markers, obj.Key)
			continue
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 5 || !strings.HasPrefix(keys[0], "files/") || len(markers) != 10 {
		t.Fatalf("bucket holds %v and markers %v", keys, markers)
	}
	assertNoUploads(t, o)
}

func assertNoUploads(t *testing.T, o Options) {
	t.Helper()
	c, _ := newClient(o)
	for u := range c.ListIncompleteUploads(context.Background(), o.Bucket, "", true) {
		t.Errorf("multipart upload left behind: %s %s", u.Key, u.UploadID)
	}
}

// A second upload of a name fails with ErrExists and leaves the first one's bytes intact,
// whichever of the two commit paths either takes.
func TestNoReplace(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	sizes := []int{100, 2*MinPartSize + 1}
	for _, first := range sizes {
		for _, second := range sizes {
			name := "dup/" + hex.EncodeToString(randomBytes(t, 4))
			a, b := randomBytes(t, first), randomBytes(t, second)
			if _, err := put(t, s, name, a, storage.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := put(t, s, name, b, storage.Meta{}); !errors.Is(err, storage.ErrExists) {
				t.Fatalf("second upload (%d after %d bytes): %v, want ErrExists", second, first, err)
			}
			if got, _ := read(t, s, name); !bytes.Equal(got, a) {
				t.Fatalf("the first upload's bytes changed")
			}
		}
	}
	assertNoUploads(t, o)
}

// Two multipart uploads of one name committing at the same time: exactly one wins.
func TestConcurrentCommit(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	const n = 4
	datas := make([][]byte, n)
	writers := make([]storage.Writer, n)
	for i := range n {
		datas[i] = randomBytes(t, MinPartSize+1000*i+1)
		w, err := s.Create(context.Background(), "race.bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(datas[i]); err != nil {
			t.Fatal(err)
		}
		writers[i] = w
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = writers[i].Commit(context.Background(), storage.Meta{}) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("uploads %d and %d both committed", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("upload %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no upload committed")
	}
	if got, _ := read(t, s, "race.bin"); !bytes.Equal(got, datas[winner]) {
		t.Fatal("stored bytes are not the winner's")
	}
	assertNoUploads(t, o)
}

func TestAbort(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	w, err := s.Create(context.Background(), "aborted.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(randomBytes(t, 3*MinPartSize)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if _, err := w.Commit(context.Background(), storage.Meta{}); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if _, err := s.Stat(context.Background(), "aborted.bin"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Abort: %v", err)
	}
	assertNoUploads(t, o)
}

func TestMissingBucket(t *testing.T) {
	o := testOptions(t)
	o.Bucket = "fs-test-missing"
	_, err := Open(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), `bucket "fs-test-missing" does not exist`) {
		t.Fatalf("Open on a missing bucket: %v", err)
	}
}

func TestNotFoundAndDelete(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ctx := context.Background()
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
	if _, err := s.Open(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Delete(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Create(ctx, "../x"); !errors.Is(err, storage.ErrInvalidName) {
		t.Fatalf("Create ../x: %v", err)
	}
	if _, err := put(t, s, "dir/file", []byte("x"), storage.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "dir"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of a name's directory: %v", err)
	}
	// Some object stores (versitygw on a filesystem) cannot hold both "dir/file" and
	// "dir/file/x"; they must say ErrExists then, like the local store.
	if _, err := put(t, s, "dir/file/x", []byte("y"), storage.Meta{}); err != nil && !errors.Is(err, storage.ErrExists) {
		t.Fatalf("a name below a file: %v", err)
	}
	if err := s.Delete(ctx, "dir/file"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "dir/file"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v", err)
	}
}

// http.ServeContent on Content answers single and multiple ranges from ranged GetObjects.
func TestServeContentRanges(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	data := randomBytes(t, MinPartSize+4321)
	if _, err := put(t, s, "range.bin", data, storage.Meta{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, err := s.Open(r.Context(), "range.bin")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer obj.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", obj.ModTime(), obj.Content())
	}))
	defer srv.Close()
	get := func(rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	if resp, body := get(""); resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := get("bytes=100-199"); resp.StatusCode != 206 || !bytes.Equal(body, data[100:200]) {
		t.Fatalf("GET 100-199: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := get("bytes=-10"); resp.StatusCode != 206 || !bytes.Equal(body, data[len(data)-10:]) {
		t.Fatalf("GET last 10: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body := get("bytes=0-9,5000000-5000009")
	if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") ||
		!bytes.Contains(body, data[:10]) || !bytes.Contains(body, data[5000000:5000010]) {
		t.Fatalf("multi-range GET: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// Bodies sent unsigned over http (storage.s3.unsigned_payload) are accepted and stored intact,
// through every request that carries one: parts, a whole small object, a tail.
func TestUnsignedPayload(t *testing.T) {
	o := testOptions(t)
	o.UnsignedPayload = true
	s := openStore(t, o)
	for _, size := range []int{1000, 2*MinPartSize + 7} {
		data := randomBytes(t, size)
		name := fmt.Sprintf("unsigned-%d.bin", size)
		if _, err := put(t, s, name, data, storage.Meta{}); err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if back, _ := read(t, s, name); !bytes.Equal(back, data) {
			t.Fatalf("%s differs", name)
		}
	}
	ref := create(t, s, "up-unsigned", "unsigned-resumable.bin")
	data := randomBytes(t, MinPartSize+999)
	ref.State = appendSync(t, s, ref, 0, data)
	if _, err := commit(t, s, ref, data); err != nil {
		t.Fatal(err)
	}
	if back, _ := read(t, s, "unsigned-resumable.bin"); !bytes.Equal(back, data) {
		t.Fatal("resumable upload differs")
	}
}

// A presigned URL serves the object straight from the object store, with the content type
// and disposition asked for, Range included; it is signed for GET only.
func TestPresignGet(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	data := randomBytes(t, 100_000)
	if _, err := put(t, s, "clips/a b.mp4", data, storage.Meta{ContentType: "video/mp4"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.PresignGet(context.Background(), "clips/a b.mp4", time.Minute, "video/mp4", `attachment; filename="a b.mp4"`)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1000:2000]) ||
		resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Content-Disposition") != `attachment; filename="a b.mp4"` {
		t.Fatalf("GET presigned: %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	if resp, err := http.Head(u); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("a URL presigned for GET answered HEAD")
		}
	}
	if _, err := s.PresignGet(context.Background(), PartialDir+"/x/0-y", time.Minute, "", ""); !errors.Is(err, storage.ErrInvalidName) {
		t.Fatalf("presigning into the partial area: %v", err)
	}
}
