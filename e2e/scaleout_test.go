//go:build e2e

package e2e

// TestScaleOut: two fileserver nodes share one S3 bucket (versitygw) and one Redis, with no
// stickiness between them. A tus upload started on node A continues on node B after A is
// killed, at the offset A acknowledged, and completes with the right bytes; of two PATCHes of
// one upload sent to A and B at once exactly one is taken; a file is served with Range by
// either node; of one XEP-0363 PUT sent to both nodes at once, one gets 201 and the other
// 409. The cross-node hand-off (a HEAD on B while a stalled PATCH holds the upload on A) is
// measured and logged.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/testkit"
	"fileserver/internal/testpeers"
)

// scaleOutLease is the nodes' sessions.lock_lease: after a node dies, its uploads move on
// after at most this long.
const scaleOutLease = 2 * time.Second

// startScaleOut starts versitygw, Redis and two nodes on them; more nodes can be started with
// the same secret and env (plus their own settings).
func startScaleOut(t *testing.T) (g *versitygw, a, b *resumableServer, secret string, env []string) {
	t.Helper()
	g = startVersitygw(t)
	g.makeBucket(t, "shared")
	redisURL := testpeers.Redis(t)
	secret = hex.EncodeToString(testkit.Random(t, 32))
	env = []string{
		"FILESERVER_STORAGE_BACKEND=s3",
		"FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint,
		"FILESERVER_STORAGE_S3_BUCKET=shared",
		"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey,
		"FILESERVER_STORAGE_S3_SECRET_KEY=" + s3SecretKey,
		"FILESERVER_STORAGE_S3_PATH_STYLE=true",
		"FILESERVER_SESSIONS_STORE=redis",
		"FILESERVER_SESSIONS_REDIS_URL=" + redisURL,
		"FILESERVER_SESSIONS_LOCK_LEASE=" + scaleOutLease.String(),
		"FILESERVER_LOG_FORMAT=json",
	}
	return g, newResumableServerWith(t, secret, env), newResumableServerWith(t, secret, env), secret, env
}

// onNode is uploadURL with its host replaced by node's: the upload URL is the same on every
// node.
func onNode(uploadURL string, node *resumableServer) string {
	u, _ := url.Parse(uploadURL)
	u.Host = node.addr
	return u.String()
}

// putV1 sends a XEP-0363 PUT signed v1 (as Prosody's mod_http_upload_external does).
func putV1(node *resumableServer, path string, body []byte) (int, error) {
	mac := hmac.New(sha256.New, []byte(node.secret))
	fmt.Fprintf(mac, "%s %d", path, len(body))
	req, _ := http.NewRequest(http.MethodPut, node.base+"/upload/"+path+"?v="+hex.EncodeToString(mac.Sum(nil)), bytes.NewReader(body))
	req.Header.Set("Content-Type", "video/mp4")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// atOnce runs f for every node at the same moment and waits for all of them.
func atOnce(nodes []*resumableServer, f func(i int, n *resumableServer)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i, n)
		}()
	}
	close(start)
	wg.Wait()
}

func TestScaleOut(t *testing.T) {
	g, a, b, secret, env := startScaleOut(t)
	nodes := []*resumableServer{a, b}
	// Every upload below ends complete or refused: nothing of them may be left in the bucket,
	// whichever node won each race.
	defer func() {
		ctx := context.Background()
		for u := range g.client.ListIncompleteUploads(ctx, "shared", "", true) {
			t.Errorf("multipart upload left behind: %s", u.Key)
		}
		for obj := range g.client.ListObjects(ctx, "shared", minio.ListObjectsOptions{Prefix: ".fileserver-partial/", Recursive: true}) {
			t.Errorf("tail left behind: %s %v", obj.Key, obj.Err)
		}
	}()

	t.Run("daily quota shared by nodes", func(t *testing.T) {
		quota := append(slices.Clone(env), "FILESERVER_LIMITS_DAILY_QUOTA=30MiB")
		c, d := newResumableServerWith(t, secret, quota), newResumableServerWith(t, secret, quota)
		if code, err := putV1(c, "quota/first.mp4", testkit.Random(t, 20<<20)); err != nil || code != http.StatusCreated {
			t.Fatalf("first 20 MiB on C: %d, %v", code, err)
		}
		if code, err := putV1(d, "quota/second.mp4", testkit.Random(t, 20<<20)); err != nil || code != http.StatusTooManyRequests {
			t.Fatalf("next 20 MiB on D, the same uploader: %d, %v; want 429 (30 MiB a day between both nodes)", code, err)
		}
		if code, err := putV1(d, "quota/small.mp4", testkit.Random(t, 5<<20)); err != nil || code != http.StatusCreated {
			t.Fatalf("5 MiB more on D: %d, %v", code, err)
		}
	})

	t.Run("downloads redirected to the object store", func(t *testing.T) {
		e := newResumableServerWith(t, secret, append(slices.Clone(env), "FILESERVER_STORAGE_S3_REDIRECT_DOWNLOADS=true"))
		big, small := testkit.Random(t, 3<<20+5), testkit.Random(t, 2000)
		for path, data := range map[string][]byte{"redirect/big.mp4": big, "redirect/small.mp4": small} {
			if code, err := putV1(e, path, data); err != nil || code != http.StatusCreated {
				t.Fatalf("PUT %s: %d, %v", path, code, err)
			}
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(e.base + "/upload/redirect/big.mp4")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, g.endpoint+"/shared/redirect/big.mp4?") {
			t.Fatalf("GET of a large file: %d, Location %q", resp.StatusCode, loc)
		}
		// Followed, with a Range: the object store answers, with this server's type.
		resp, body := rangeGet(t, e.base+"/upload/redirect/big.mp4", 1000000, 1000999)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, big[1000000:1001000]) || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("redirected Range GET: %d, %d bytes, Content-Type %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
		}
		// Our validators are answered here; a small file is served here.
		head, err := http.Head(e.base + "/upload/redirect/big.mp4")
		if err != nil {
			t.Fatal(err)
		}
		head.Body.Close()
		req, _ := http.NewRequest(http.MethodGet, e.base+"/upload/redirect/big.mp4", nil)
		req.Header.Set("If-None-Match", head.Header.Get("Etag"))
		if resp, err = noFollow.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
			t.Fatalf("conditional GET with our ETag: %v, %v", resp, err)
		}
		resp.Body.Close()
		if resp, err = noFollow.Get(e.base + "/upload/redirect/small.mp4"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET of a small file: %v, %v", resp, err)
		}
		resp.Body.Close()
	})

	t.Run("range from either node", func(t *testing.T) {
		data := testkit.Random(t, 20<<20+777)
		if code, err := putV1(a, "room/clip.mp4", data); err != nil || code != http.StatusCreated {
			t.Fatalf("PUT on A: %d, %v", code, err)
		}
		for _, n := range nodes {
			checkGet(t, "whole file from "+n.addr, n.base+"/upload/room/clip.mp4", data)
			resp, body := rangeGet(t, n.base+"/upload/room/clip.mp4", 8388000, 8390000)
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[8388000:8390001]) {
				t.Fatalf("Range GET on %s: %d, %d bytes (equal %v)", n.addr, resp.StatusCode, len(body), bytes.Equal(body, data[8388000:8390001]))
			}
		}
	})

	t.Run("appends recommended in whole parts", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, a.base+resumablePath, nil)
		req.Header.Set("Tus-Resumable", tusResumable)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var size int64
		for _, kv := range strings.Split(resp.Header.Get("Upload-Limit"), ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "max-append-size="); ok {
				size, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if size <= 0 || size%(8<<20) != 0 {
			t.Fatalf("Upload-Limit %q: max-append-size is not a whole number of 8 MiB parts", resp.Header.Get("Upload-Limit"))
		}
	})

	t.Run("fileserver upload, tus and IETF", func(t *testing.T) {
		data := testkit.Random(t, 19<<20+555)
		file := writeTemp(t, "clip.bin", data)
		for _, proto := range []string{"tus", "ietf"} {
			out, _, err := run(context.Background(), 2*time.Minute, []string{"FILESERVER_AUTH_SECRET=" + a.secret},
				serverBinary(t), "upload", "--sign", "--quiet", "--protocol", proto, "--chunk-size", "5MiB", file, a.base+resumablePath)
			if err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			var res struct {
				FileURL  string `json:"file_url"`
				Verified bool   `json:"verified"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Verified {
				t.Fatalf("%s: %q (%v): not verified", proto, out, err)
			}
			checkGet(t, proto+" upload from the other node", onNode(res.FileURL, b), data)
		}
	})

	t.Run("same PUT on both nodes", func(t *testing.T) {
		for round := range 3 {
			path := fmt.Sprintf("room/race-%d.mp4", round)
			bodies := [][]byte{testkit.Random(t, 12<<20), testkit.Random(t, 12<<20)}
			codes := make([]int, 2)
			errs := make([]error, 2)
			atOnce(nodes, func(i int, n *resumableServer) { codes[i], errs[i] = putV1(n, path, bodies[i]) })
			slices.Sort(codes)
			if errs[0] != nil || errs[1] != nil || codes[0] != http.StatusCreated || codes[1] != http.StatusConflict {
				t.Fatalf("round %d: PUTs of one name to both nodes: %v, %v; want one 201 and one 409", round, codes, errors.Join(errs...))
			}
			// The file is whole and is one of the two bodies.
			resp, err := http.Get(b.base + "/upload/" + path)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, bodies[0]) && !bytes.Equal(got, bodies[1]) {
				t.Fatalf("round %d: the stored file (%d bytes) is neither body", round, len(got))
			}
		}
	})

	t.Run("concurrent PATCHes on two nodes", func(t *testing.T) {
		const size = 24 << 20
		data := testkit.Random(t, size)
		uploadURL := a.tusCreate(t, size, "twice.bin")
		statuses := make([]int, 2)
		errs := make([]error, 2)
		atOnce(nodes, func(i int, n *resumableServer) {
			statuses[i], _, errs[i] = tusPatch(&http.Client{Timeout: 60 * time.Second}, onNode(uploadURL, n), 0, bytes.NewReader(data), size)
		})
		t.Logf("PATCH on A: %d %v; on B: %d %v", statuses[0], errs[0], statuses[1], errs[1])
		won := 0
		for i, st := range statuses {
			switch st {
			case http.StatusNoContent:
				won++
			case http.StatusConflict:
				// Refused because the other still sent (the lock, across nodes), or because it
				// had finished already: never half-written, never an offset that moved.
				if msg := errs[i].Error(); !strings.Contains(msg, "still sending") && !strings.Contains(msg, "complete") {
					t.Errorf("PATCH on node %d: %v, want the busy or the complete conflict", i, errs[i])
				}
			default:
				t.Errorf("PATCH on node %d: %d (%v), want 204 or 409", i, st, errs[i])
			}
		}
		if won != 1 {
			t.Fatalf("%d of two concurrent PATCHes were taken, want exactly one", won)
		}
		checkGet(t, "after the race", onNode(uploadURL, b), data)
	})

	t.Run("cross-node hand-off", func(t *testing.T) {
		var lat []time.Duration
		for i := range 10 {
			length := int64(9<<20 + i*1000)
			stalled := int64(8<<20 + 64<<10 + i*4099) // a full part and a tail
			data := testkit.Random(t, int(length))
			uploadURL := a.tusCreate(t, length, fmt.Sprintf("handoff-%d.bin", i))
			u, _ := url.Parse(uploadURL)
			conn, err := net.DialTimeout("tcp", a.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: %s\r\nContent-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
				u.RequestURI(), a.addr, tusResumable, tusChunkType, length)
			if _, err := conn.Write(data[:stalled]); err != nil {
				t.Fatalf("round %d: writing the stalled PATCH: %v", i, err)
			}
			time.Sleep(300 * time.Millisecond) // node A takes in what was sent
			start := time.Now()
			off, _ := tusHead(t, onNode(uploadURL, b), 10*time.Second)
			took := time.Since(start)
			lat = append(lat, took)
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			status := "no answer"
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				status = strconv.Itoa(resp.StatusCode)
				resp.Body.Close()
			}
			conn.Close()
			if off != stalled {
				dumpLog(t, "node A", a.proc.logPath, 20)
				dumpLog(t, "node B", b.proc.logPath, 20)
				t.Fatalf("round %d: HEAD on B during a PATCH stalled on A after %d bytes: offset %d", i, stalled, off)
			}
			patchAll(t, onNode(uploadURL, b), data, off, length)
			checkGet(t, fmt.Sprintf("round %d", i), onNode(uploadURL, a), data)
			t.Logf("round %d: HEAD on B took the upload over from A in %v (A's PATCH got %s)", i, took, status)
		}
		slices.Sort(lat)
		t.Logf("cross-node handoff median=%v max=%v min=%v rounds=%d", (lat[4]+lat[5])/2, lat[len(lat)-1], lat[0], len(lat))
	})

	t.Run("PUT stalled on A continues on B", func(t *testing.T) {
		// curl -C on a load-balanced URL: the stalled PUT ran on A, HEAD and the rest land on B.
		const path = "room/stalled.mp4"
		data := testkit.Random(t, 18<<20+4321)
		sent := 11<<20 + 999
		mac := hmac.New(sha256.New, []byte(a.secret))
		fmt.Fprintf(mac, "%s %d", path, len(data))
		query := "?v=" + hex.EncodeToString(mac.Sum(nil))
		conn, err := net.DialTimeout("tcp", a.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /upload/%s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n", path, query, a.addr, len(data))
		if _, err := conn.Write(data[:sent]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Head(b.base + "/upload/" + path + query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		off, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
		if resp.StatusCode != http.StatusOK || err != nil || off != sent {
			t.Fatalf("HEAD on B: %d, Upload-Offset %q, want 200 with %d", resp.StatusCode, resp.Header.Get("Upload-Offset"), sent)
		}
		req, _ := http.NewRequest(http.MethodPut, b.base+"/upload/"+path+query, bytes.NewReader(data[off:]))
		req.Header.Set("Content-Type", "video/mp4")
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(data)-1, len(data)))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("Content-Range PUT on B from %d: %d, want 201", off, resp.StatusCode)
		}
		checkGet(t, "continued on B", a.base+"/upload/"+path, data)
	})

	t.Run("resume on B after A is killed", func(t *testing.T) {
		const (
			size  = 40 << 20
			first = 12 << 20
		)
		data := testkit.Random(t, size)
		uploadURL := a.tusCreate(t, size, "crash.bin")
		client := &http.Client{Timeout: 60 * time.Second}
		if _, off, err := tusPatch(client, uploadURL, 0, bytes.NewReader(data[:first]), first); err != nil || off != first {
			t.Fatalf("first PATCH on A: offset %d, %v", off, err)
		}
		// A second PATCH on A gets part of its body, then A dies.
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, _, err := tusPatch(client, uploadURL, first, pr, size-first)
			done <- err
		}()
		sent := int64(first + 7<<20 + 12345)
		if _, err := pw.Write(data[first:sent]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		a.kill9(t)
		pw.CloseWithError(errors.New("node A killed"))
		<-done

		start := time.Now()
		off, _ := tusHead(t, onNode(uploadURL, b), 30*time.Second)
		t.Logf("HEAD on B after A was killed: offset %d after %v (lease %v); A had acknowledged %d, received at most %d",
			off, time.Since(start), scaleOutLease, first, sent)
		if off < first || off > sent {
			t.Fatalf("offset on B %d, want between the acknowledged %d and the %d bytes sent", off, first, sent)
		}
		patchAll(t, onNode(uploadURL, b), data, off, 8<<20)
		checkGet(t, "completed on B", onNode(uploadURL, b), data)
		a.start(t) // the same data (bucket, Redis) seen from a restarted A
		checkGet(t, "served by the restarted A", uploadURL, data)
	})
}
