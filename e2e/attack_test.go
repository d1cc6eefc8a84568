//go:build e2e

package e2e

// The attacker's suite, against the real binary, on one node with local storage and on two
// nodes sharing S3 (versitygw) and Redis, the attacker on the other node than the victim:
//   TestAttackSessionTakeover  no request without the capability reaches an upload: not the
//                              upload of a PUT (even with its session id), not a tus or IETF
//                              upload (ids are unguessable), not a POST in flight.
//   TestAttackSizeLimits       a token's filesize and upload.max_size hold on every protocol:
//                              deferred length, concatenation, Content-Range, IETF appends.
//   TestAttackDailyQuota       limits.daily_quota holds on every protocol and across nodes,
//                              for uploads racing each other too.
//   TestAttackMinFree          storage.min_free holds for bodies of unknown length and for
//                              body-less concatenations (local storage: the floor is a disk's).

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fileserver/internal/hmacauth"
	"fileserver/internal/testkit"
	"fileserver/internal/testpeers"
)

// deployment is fileserver as an operator runs it: the victim talks to victim, the attacker
// to attacker (the same node on local storage, the other node on S3 + Redis).
type deployment struct {
	name             string
	secret           string
	victim, attacker *resumableServer
	s3               bool
}

// forEachDeployment runs fn on one node with local storage and on two nodes sharing S3 and
// Redis, each started with env added.
func forEachDeployment(t *testing.T, env []string, fn func(t *testing.T, d deployment)) {
	t.Run("local", func(t *testing.T) {
		secret := hex.EncodeToString(testkit.Random(t, 32))
		n := newResumableServerWith(t, secret, env)
		fn(t, deployment{name: "local", secret: secret, victim: n, attacker: n})
	})
	t.Run("s3+redis", func(t *testing.T) {
		g := startVersitygw(t)
		g.makeBucket(t, "attack")
		secret := hex.EncodeToString(testkit.Random(t, 32))
		shared := append([]string{
			"FILESERVER_STORAGE_BACKEND=s3",
			"FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint,
			"FILESERVER_STORAGE_S3_BUCKET=attack",
			"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey,
			"FILESERVER_STORAGE_S3_SECRET_KEY=" + s3SecretKey,
			"FILESERVER_STORAGE_S3_PATH_STYLE=true",
			"FILESERVER_SESSIONS_STORE=redis",
			"FILESERVER_SESSIONS_REDIS_URL=" + testpeers.Redis(t),
			"FILESERVER_LOG_FORMAT=json",
		}, env...)
		a, b := newResumableServerWith(t, secret, shared), newResumableServerWith(t, secret, shared)
		fn(t, deployment{name: "s3+redis", secret: secret, victim: a, attacker: b, s3: true})
	})
}

// reply is an answer, body read.
type reply struct {
	status int
	header http.Header
	body   string
}

// send makes one request; hdr holds pairs of header names and values.
func send(t *testing.T, method, u string, body []byte, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

// sendChunked is send with a body of unannounced length.
func sendChunked(t *testing.T, method, u string, body []byte, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, redactURL(req.URL.String()), err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (r reply) want(t *testing.T, what string, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d (%q), want %d", what, r.status, clip([]byte(r.body)), status)
	}
	return r
}

// v1URL signs a XEP-0363 PUT of size bytes to name, as Prosody does.
func (d deployment) v1URL(n *resumableServer, name string, size int) string {
	return n.base + "/upload/" + name + "?v=" + hmacauth.SignV1(d.secret, name, int64(size))
}

// v3URL signs method on the full URL path for an hour.
func (d deployment) v3URL(n *resumableServer, method, path string) string {
	exp := time.Now().Add(time.Hour).Unix()
	return n.base + path + "?v3=" + hmacauth.SignV3(d.secret, method, path, exp) + "&expires=" + strconv.FormatInt(exp, 10)
}

// token is a Prosody bearer token for slot/file of size bytes, uploaded by sub.
func (d deployment) token(sub, slot, file string, size int) string {
	now := time.Now().Unix()
	return "Bearer " + hmacauth.SignToken(d.secret, hmacauth.Claims{Sub: sub, Iat: now, Exp: now + 300, Slot: slot,
		Filename: file, Filesize: int64(size), Filetype: "application/octet-stream"})
}

// tusCreate starts a tus upload on n with headers hdr (Upload-Length or Upload-Defer-Length
// among them) and returns the answer; Location is absolute.
func (d deployment) tusCreate(t *testing.T, n *resumableServer, body []byte, hdr ...string) reply {
	t.Helper()
	return send(t, http.MethodPost, d.v3URL(n, http.MethodPost, resumablePath), body, append([]string{"Tus-Resumable", tusResumable}, hdr...)...)
}

// leakedPutID is the session id a PUT to name has on a server with secret: what an attacker
// would need to reach it, here as if it had leaked (a server's disk, a Redis dump).
func leakedPutID(secret, name string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("upload-session\x00" + name))
	return "put-" + hex.EncodeToString(mac.Sum(nil))[:40]
}

// nameDerivedID is the id a PUT's session had once, derived from the name alone.
func nameDerivedID(name string) string {
	s := sha256.Sum256([]byte("put\x00" + name))
	return "put-" + hex.EncodeToString(s[:20])
}

// randomID is an id of the shape tus and IETF uploads have.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// attackUpload sends, without any credential, every request the resumable endpoint takes to
// upload id on n, and fails unless each is refused with a 4xx that changed nothing (404 for
// an id the endpoint does not serve; 409/412/415 come before any lookup).
func attackUpload(t *testing.T, n *resumableServer, id string, offset int64) {
	t.Helper()
	u := n.base + resumablePath + id
	off := strconv.FormatInt(offset, 10)
	for _, a := range []struct {
		method string
		body   []byte
		hdr    []string
	}{
		{http.MethodHead, nil, []string{"Tus-Resumable", tusResumable}},
		{http.MethodGet, nil, nil},
		{http.MethodPatch, []byte("attacker's bytes"), []string{"Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", off}},
		{http.MethodPatch, nil, []string{"Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", off, "Upload-Length", "99999999"}},
		{http.MethodDelete, nil, []string{"Tus-Resumable", tusResumable}},
		{http.MethodHead, nil, []string{"Upload-Draft-Interop-Version", "8"}},
		{http.MethodPatch, []byte("attacker's bytes"), []string{"Upload-Draft-Interop-Version", "8", "Content-Type", "application/partial-upload", "Upload-Offset", off, "Upload-Complete", "?1"}},
		{http.MethodDelete, nil, []string{"Upload-Draft-Interop-Version", "8"}},
		// Interop version 3: no media type, and an append without Upload-Incomplete completes.
		{http.MethodPatch, []byte("attacker's bytes"), []string{"Upload-Draft-Interop-Version", "3", "Upload-Offset", off}},
		{http.MethodHead, nil, []string{"Upload-Draft-Interop-Version", "3"}},
	} {
		r := send(t, a.method, u, a.body, a.hdr...)
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s%s without a credential: %d (%q), want 404", a.method, resumablePath, id, r.status, clip([]byte(r.body)))
		}
	}
}

// stalledPut sends the head of a PUT of data to u and its first sent bytes, then waits until
// the server has them (HEAD on the signed URL reports the offset would cut it off, so it
// waits on the victim's own view: the bytes left the client).
func stalledPut(t *testing.T, u string, data []byte, sent int, hdr ...string) net.Conn {
	t.Helper()
	pu := mustParse(t, u)
	c, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var head strings.Builder
	fmt.Fprintf(&head, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", pu.RequestURI(), pu.Host, len(data))
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&head, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(c, head.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the server read them; the PUT stays live (stale_after 2s)
	return c
}

// finishPut sends the rest of a stalled PUT and returns its status.
func finishPut(t *testing.T, c net.Conn, rest []byte) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(rest); err != nil {
		t.Fatalf("the rest of the PUT: %v (was it cut off?)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("answer to the PUT: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAttackSessionTakeover(t *testing.T) {
	forEachDeployment(t, nil, func(t *testing.T, d deployment) {
		t.Run("PUT in flight", func(t *testing.T) {
			data := testkit.Random(t, 600_000)
			const name = "victim/in-flight.mp4"
			c := stalledPut(t, d.v1URL(d.victim, name, len(data)), data, 200_000)
			for _, id := range []string{nameDerivedID(name), leakedPutID(d.secret, name)} {
				attackUpload(t, d.attacker, id, 200_000)
			}
			if st := finishPut(t, c, data[200_000:]); st != http.StatusCreated {
				t.Fatalf("the victim's PUT after the attack: %d, want 201", st)
			}
			checkGet(t, "victim's file", d.attacker.base+"/upload/"+name, data)
		})
		t.Run("interrupted PUT resumed with Content-Range", func(t *testing.T) {
			data := testkit.Random(t, 400_000)
			const name = "victim/interrupted.bin"
			u := d.v1URL(d.victim, name, len(data))
			c := stalledPut(t, u, data, 150_000)
			c.Close()
			var off int64
			deadline := time.Now().Add(10 * time.Second)
			for off == 0 && time.Now().Before(deadline) {
				r := send(t, http.MethodHead, u, nil)
				off, _ = strconv.ParseInt(r.header.Get("Upload-Offset"), 10, 64)
				time.Sleep(50 * time.Millisecond)
			}
			if off <= 0 {
				t.Fatalf("the interrupted PUT kept nothing")
			}
			for _, id := range []string{nameDerivedID(name), leakedPutID(d.secret, name)} {
				attackUpload(t, d.attacker, id, off)
			}
			send(t, http.MethodPut, d.v1URL(d.victim, name, len(data)), data[off:],
				"Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(data)-1, len(data))).want(t, "Content-Range PUT", http.StatusCreated)
			checkGet(t, "victim's file", d.attacker.base+"/upload/"+name, data)
		})
		t.Run("POST in flight", func(t *testing.T) {
			data := testkit.Random(t, 300_000)
			const name = "victim/posted.bin"
			u := d.v3URL(d.victim, http.MethodPost, "/upload/"+name)
			pr, pw := io.Pipe()
			done := make(chan reply, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodPost, u, pr)
				req.ContentLength = int64(len(data))
				done <- do(t, req)
			}()
			pw.Write(data[:100_000])
			attackUpload(t, d.attacker, nameDerivedID(name), 100_000)
			attackUpload(t, d.attacker, leakedPutID(d.secret, name), 100_000)
			pw.Write(data[100_000:])
			pw.Close()
			(<-done).want(t, "victim's POST", http.StatusCreated)
			checkGet(t, "victim's file", d.attacker.base+"/upload/"+name, data)
		})
		for _, tc := range []struct {
			name string
			hdr  []string
		}{
			{"tus", []string{"Upload-Length", "200000"}},
			{"tus with deferred length", []string{"Upload-Defer-Length", "1"}},
			{"tus partial", []string{"Upload-Length", "200000", "Upload-Concat", "partial"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if d.s3 && len(tc.hdr) > 2 {
					t.Skip("concatenation needs partial data read back, which S3 does not offer")
				}
				data := testkit.Random(t, 200_000)
				loc := d.tusCreate(t, d.victim, nil, tc.hdr...).want(t, "creation", http.StatusCreated).header.Get("Location")
				patchAll(t, loc, data[:100_000], 0, 100_000)
				// Guessing is all an attacker can do: ids are 128 random bits.
				for range 3 {
					attackUpload(t, d.attacker, randomID(), 100_000)
				}
				// A final naming a PUT's upload is refused whatever the id.
				d.tusCreate(t, d.attacker, nil, "Upload-Concat", "final;"+resumablePath+leakedPutID(d.secret, "victim/in-flight.mp4"))
				hdr := []string{"Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", "100000"}
				if tc.hdr[0] == "Upload-Defer-Length" {
					hdr = append(hdr, "Upload-Length", "200000")
				}
				send(t, http.MethodPatch, loc, data[100_000:], hdr...).want(t, "the victim's last PATCH", http.StatusNoContent)
				if off, _ := tusHead(t, loc, 10*time.Second); off != 200_000 {
					t.Fatalf("offset %d after the victim's PATCHes", off)
				}
				if len(tc.hdr) < 3 {
					checkGet(t, "victim's upload", loc, data)
				}
			})
		}
		t.Run("IETF", func(t *testing.T) {
			data := testkit.Random(t, 200_000)
			r := send(t, http.MethodPost, d.v3URL(d.victim, http.MethodPost, resumablePath), data[:100_000],
				"Upload-Draft-Interop-Version", "8", "Upload-Complete", "?0").want(t, "creation", http.StatusCreated)
			loc := r.header.Get("Location")
			for range 3 {
				attackUpload(t, d.attacker, randomID(), 100_000)
			}
			r = send(t, http.MethodPatch, loc, data[100_000:], "Upload-Draft-Interop-Version", "8",
				"Content-Type", "application/partial-upload", "Upload-Offset", "100000", "Upload-Complete", "?1")
			if r.status/100 != 2 {
				t.Fatalf("the victim's last PATCH: %d %q", r.status, r.body)
			}
			checkGet(t, "victim's file", r.header.Get("Content-Location"), data)
		})
	})
}

func TestAttackSizeLimits(t *testing.T) {
	const maxSize = 1 << 20
	forEachDeployment(t, []string{"FILESERVER_UPLOAD_MAX_SIZE=" + strconv.Itoa(maxSize)}, func(t *testing.T, d deployment) {
		big := testkit.Random(t, maxSize+1000)
		t.Run("token filesize", func(t *testing.T) {
			tok := func(file string) string { return d.token("mallory@example.org", "slot1", file, 10) }
			create := func(file string, hdr ...string) reply {
				return send(t, http.MethodPost, d.attacker.base+resumablePath, nil,
					append([]string{"Tus-Resumable", tusResumable, "Authorization", tok(file)}, hdr...)...)
			}
			for _, hdr := range [][]string{
				{"Upload-Defer-Length", "1"},
				{"Upload-Length", "10", "Upload-Concat", "partial"},
				{"Upload-Length", "5000"},
			} {
				if r := create("a.bin", hdr...); r.status/100 == 2 {
					t.Errorf("tus creation %v with a token for 10 bytes: %d", hdr, r.status)
				}
			}
			loc := create("b.bin", "Upload-Length", "10").want(t, "creation of the token's size", http.StatusCreated).header.Get("Location")
			if r := send(t, http.MethodPatch, loc, big[:5000], "Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", "0"); r.status/100 == 2 {
				t.Errorf("PATCH of 5000 bytes onto a 10-byte token upload: %d", r.status)
			}
			r := send(t, http.MethodPost, d.attacker.base+resumablePath, big[:5000], "Upload-Draft-Interop-Version", "8",
				"Upload-Complete", "?1", "Authorization", tok("c.bin"))
			if r.status/100 == 2 {
				t.Errorf("IETF upload of 5000 bytes with a token for 10: %d", r.status)
			}
			if r := sendChunked(t, http.MethodPut, d.attacker.base+"/upload/slot1/d.bin", big[:5000], "Authorization", tok("d.bin")); r.status/100 == 2 {
				t.Errorf("chunked PUT of 5000 bytes with a token for 10: %d", r.status)
			}
			for _, f := range []string{"a.bin", "b.bin", "c.bin", "d.bin"} {
				if r := send(t, http.MethodGet, d.victim.base+"/upload/slot1/"+f, nil); r.status == http.StatusOK && len(r.body) != 10 {
					t.Errorf("slot1/%s stored %d bytes with a token for 10", f, len(r.body))
				}
			}
		})
		t.Run("signed size", func(t *testing.T) {
			// A v1 URL for 10 bytes: a Content-Range total or a body of another size is refused.
			u := d.v1URL(d.attacker, "signed.bin", 10)
			if r := send(t, http.MethodPut, u, big[:5000], "Content-Range", "bytes 0-4999/5000"); r.status/100 == 2 {
				t.Errorf("Content-Range PUT of 5000 on a URL signed for 10: %d", r.status)
			}
			if r := sendChunked(t, http.MethodPut, u, big[:5000]); r.status/100 == 2 {
				t.Errorf("chunked PUT of 5000 on a URL signed for 10: %d", r.status)
			}
		})
		t.Run("max_size", func(t *testing.T) {
			if r := sendChunked(t, http.MethodPut, d.v3URL(d.attacker, http.MethodPut, "/upload/big.bin"), big); r.status != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked PUT past max_size: %d", r.status)
			}
			loc := d.tusCreate(t, d.attacker, nil, "Upload-Defer-Length", "1").want(t, "deferred creation", http.StatusCreated).header.Get("Location")
			if r := send(t, http.MethodPatch, loc, big, "Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", "0"); r.status/100 == 2 {
				t.Errorf("deferred-length PATCH past max_size: %d", r.status)
			}
			r := send(t, http.MethodPost, d.v3URL(d.attacker, http.MethodPost, resumablePath), big[:maxSize/2],
				"Upload-Draft-Interop-Version", "8", "Upload-Complete", "?0").want(t, "IETF creation", http.StatusCreated)
			ietf := r.header.Get("Location")
			r = send(t, http.MethodPatch, ietf, big[:maxSize], "Upload-Draft-Interop-Version", "8",
				"Content-Type", "application/partial-upload", "Upload-Offset", strconv.Itoa(maxSize/2), "Upload-Complete", "?1")
			if r.status/100 == 2 {
				t.Errorf("IETF appends past max_size: %d", r.status)
			}
			if !d.s3 { // concatenation needs partial data read back: not offered on S3
				var parts []string
				for range 2 {
					loc := d.tusCreate(t, d.attacker, big[:maxSize/2+100], "Upload-Length", strconv.Itoa(maxSize/2+100),
						"Upload-Concat", "partial", "Content-Type", tusChunkType).want(t, "partial", http.StatusCreated).header.Get("Location")
					parts = append(parts, strings.TrimPrefix(loc, d.attacker.base))
				}
				if r := d.tusCreate(t, d.attacker, nil, "Upload-Concat", "final;"+strings.Join(parts, " ")); r.status/100 == 2 {
					t.Errorf("a concatenation of two halves past max_size: %d", r.status)
				}
			}
		})
	})
}

func TestAttackDailyQuota(t *testing.T) {
	const quota = 100_000
	forEachDeployment(t, []string{"FILESERVER_LIMITS_DAILY_QUOTA=" + strconv.Itoa(quota)}, func(t *testing.T, d deployment) {
		// Every subtest is a new uploader (a JID in a token), so they do not share a quota.
		var n int
		uploader := func() string { n++; return fmt.Sprintf("mallory%d@example.org", n) }
		tusFor := func(node *resumableServer, sub string, size int, hdr ...string) reply {
			return send(t, http.MethodPost, node.base+resumablePath, nil, append([]string{"Tus-Resumable", tusResumable,
				"Upload-Length", strconv.Itoa(size), "Authorization", d.token(sub, "s"+strconv.Itoa(size), "f.bin", size)}, hdr...)...)
		}
		t.Run("resumable uploads hold their length, on either node", func(t *testing.T) {
			sub := uploader()
			tusFor(d.victim, sub, 60_000).want(t, "first upload", http.StatusCreated)
			if r := tusFor(d.attacker, sub, 60_000); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
				t.Fatalf("second upload past the quota on the other node: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
			}
			tusFor(d.attacker, sub, 40_000).want(t, "an upload that fits", http.StatusCreated)
		})
		t.Run("deferred length", func(t *testing.T) {
			// By address: v3 creations are charged to the client's address, here 127.0.0.1.
			a := d.tusCreate(t, d.victim, nil, "Upload-Defer-Length", "1").want(t, "creation", http.StatusCreated).header.Get("Location")
			send(t, http.MethodPatch, a, testkit.Random(t, 80_000), "Tus-Resumable", tusResumable, "Content-Type", tusChunkType,
				"Upload-Offset", "0").want(t, "first PATCH", http.StatusNoContent)
			b := d.tusCreate(t, d.attacker, nil, "Upload-Defer-Length", "1").want(t, "creation", http.StatusCreated).header.Get("Location")
			r := send(t, http.MethodPatch, b, testkit.Random(t, 50_000), "Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", "0")
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("PATCH past the quota on the other node: %d", r.status)
			}
			if off, _ := tusHead(t, b, 10*time.Second); off > 20_000 {
				t.Fatalf("the second upload kept %d bytes with 20000 left", off)
			}
		})
		for _, path := range []string{"PUT", "POST", "tus", "Content-Range PUT"} {
			t.Run("race of "+path, func(t *testing.T) {
				sub := uploader()
				statuses := make([]int, 8)
				var wg sync.WaitGroup
				for i := range statuses {
					wg.Add(1)
					go func() {
						defer wg.Done()
						node := []*resumableServer{d.victim, d.attacker}[i%2]
						data := testkit.Random(t, 30_000)
						slot, file := fmt.Sprintf("%s-%d", strings.ReplaceAll(path, " ", "-"), i), "f.bin"
						auth := d.token(sub, slot, file, len(data))
						u := node.base + "/upload/" + slot + "/" + file
						var r reply
						switch path {
						case "PUT":
							r = send(t, http.MethodPut, u, data, "Authorization", auth)
						case "POST":
							r = send(t, http.MethodPost, u, data, "Authorization", auth)
						case "tus":
							r = send(t, http.MethodPost, node.base+resumablePath, data, "Tus-Resumable", tusResumable,
								"Upload-Length", "30000", "Content-Type", tusChunkType, "Authorization", auth)
						case "Content-Range PUT":
							r = send(t, http.MethodPut, u, data, "Content-Range", "bytes 0-29999/30000", "Authorization", auth)
						}
						statuses[i] = r.status
					}()
				}
				wg.Wait()
				ok := 0
				for _, st := range statuses {
					switch st {
					case http.StatusCreated:
						ok++
					case http.StatusTooManyRequests:
					default:
						t.Errorf("status %d", st)
					}
				}
				if ok == 0 || ok > 3 {
					t.Fatalf("%d of 8 uploads of 30000 bytes stored under a quota of %d (statuses %v)", ok, quota, statuses)
				}
			})
		}
	})
}

// TestAttackMinFree: a 24 MiB tmpfs that must keep 16 MiB free. Mounting needs root.
func TestAttackMinFree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	secret := hex.EncodeToString(testkit.Random(t, 32))
	n := newResumableServerWith(t, secret, []string{"FILESERVER_STORAGE_PATH=" + filepath.Join(dir, "data"),
		"FILESERVER_STORAGE_MIN_FREE=16MiB"})
	d := deployment{name: "local", secret: secret, victim: n, attacker: n}
	big := testkit.Random(t, 10<<20)

	if r := sendChunked(t, http.MethodPut, d.v3URL(n, http.MethodPut, "/upload/big.bin"), big); r.status != http.StatusInsufficientStorage {
		t.Errorf("chunked PUT past min_free: %d", r.status)
	}
	if r := d.tusCreate(t, n, nil, "Upload-Length", strconv.Itoa(len(big))); r.status != http.StatusInsufficientStorage {
		t.Errorf("tus creation past min_free: %d", r.status)
	}
	loc := d.tusCreate(t, n, nil, "Upload-Defer-Length", "1").want(t, "deferred creation", http.StatusCreated).header.Get("Location")
	if r := sendChunked(t, http.MethodPatch, loc, big, "Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", "0"); r.status != http.StatusInsufficientStorage {
		t.Errorf("deferred PATCH past min_free: %d", r.status)
	}
	if off, _ := tusHead(t, loc, 10*time.Second); off != 0 {
		t.Errorf("a PATCH refused for min_free kept %d bytes", off)
	}
	part := testkit.Random(t, 3<<20)
	p := d.tusCreate(t, n, part, "Upload-Length", strconv.Itoa(len(part)), "Upload-Concat", "partial", "Content-Type", tusChunkType).
		want(t, "partial", http.StatusCreated).header.Get("Location")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d.tusCreate(t, n, nil, "Upload-Concat", "final;"+strings.TrimPrefix(p, n.base)).status == http.StatusCreated {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d of 8 finals of a 3 MiB part created in about 5 MiB of room, want 1", created)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "data", "partial")); len(ents) != 2 {
		t.Errorf("%d partial files left, want the part's and the deferred upload's", len(ents))
	}
}

func mustParse(t *testing.T, u string) *url.URL {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu
}
