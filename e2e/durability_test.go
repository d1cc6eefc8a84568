//go:build e2e

package e2e

// Durability end to end, against the real binary:
//   TestCrashBetweenCommitSteps  kill -9 at each step of an upload's commit (the server stops
//                                there on FILESERVER_CRASHPOINT), on local storage and on
//                                two nodes over S3 and Redis: after a restart, or on the other
//                                node, the upload is complete, answers HEAD with its full
//                                length and serves every byte; nothing is left twice.

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fileserver/internal/testpeers"
)

// withoutEnv is env without the variable key.
func withoutEnv(env []string, key string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
}

// trySend makes one request from a goroutine other than the test's and returns its error
// (the connection dropped) or nil (an answer came).
func trySend(method, u string, body []byte, hdr ...string) error {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// waitLog waits until the process's log says s.
func waitLog(t *testing.T, p *proc, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !p.logContains(s) {
		if err := p.alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never logged", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCrashBetweenCommitSteps(t *testing.T) {
	type backend struct {
		name   string
		points []string
		env    func(t *testing.T) []string
	}
	backends := []backend{
		{"local", []string{"partial-linked", "partial-unlinked", "committed-unrecorded"}, func(*testing.T) []string { return nil }},
		{"s3+redis", []string{"object-completed", "committed-unrecorded"}, func(t *testing.T) []string {
			g := startVersitygw(t)
			g.makeBucket(t, "crash")
			return []string{
				"FILESERVER_STORAGE_BACKEND=s3",
				"FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint,
				"FILESERVER_STORAGE_S3_BUCKET=crash",
				"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey,
				"FILESERVER_STORAGE_S3_SECRET_KEY=" + s3SecretKey,
				"FILESERVER_STORAGE_S3_PATH_STYLE=true",
				"FILESERVER_SESSIONS_STORE=redis",
				"FILESERVER_SESSIONS_REDIS_URL=" + testpeers.Redis(t),
				"FILESERVER_SESSIONS_LOCK_LEASE=1s",
			}
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			env := b.env(t)
			secret := strings.Repeat("crash-secret-", 3)
			for _, point := range b.points {
				for _, proto := range []string{"tus", "Content-Range PUT"} {
					t.Run(point+"/"+proto, func(t *testing.T) {
						crashing := newResumableServerWith(t, secret, append(slices.Clone(env), "FILESERVER_CRASHPOINT="+point))
						d := deployment{secret: secret, victim: crashing}
						data := randomFile(t, 3<<20+12345)
						name := fmt.Sprintf("crash/%s-%d.bin", point, len(proto))
						var head func(n *resumableServer) reply
						var get string
						done := make(chan error, 1)
						switch proto {
						case "tus":
							loc := d.tusCreate(t, crashing, nil, "Upload-Length", strconv.Itoa(len(data)),
								"Upload-Metadata", tusMetadata("filename", "f.bin")).want(t, "creation", http.StatusCreated).header.Get("Location")
							go func() {
								done <- trySend(http.MethodPatch, loc, data, "Tus-Resumable", tusResumable, "Content-Type", tusChunkType, "Upload-Offset", "0")
							}()
							head = func(n *resumableServer) reply {
								return send(t, http.MethodHead, onNode(loc, n), nil, "Tus-Resumable", tusResumable)
							}
							get = loc
						default:
							go func() {
								done <- trySend(http.MethodPut, d.v1URL(crashing, name, len(data)), data,
									"Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
							}()
							head = func(n *resumableServer) reply { return send(t, http.MethodHead, d.v1URL(n, name, len(data)), nil) }
							get = crashing.base + "/upload/" + name
						}
						waitLog(t, crashing.proc, "crashpoint "+point+" reached", 30*time.Second)
						crashing.kill9(t)
						if err := <-done; err == nil {
							t.Fatal("the request answered although the server stopped before its answer")
						}

						// The same node restarted, or, sharing S3 and Redis, another one.
						next := crashing
						if b.name == "local" {
							crashing.env = withoutEnv(crashing.env, "FILESERVER_CRASHPOINT")
							crashing.start(t)
						} else {
							next = newResumableServerWith(t, secret, env)
						}
						var h reply
						deadline := time.Now().Add(15 * time.Second) // a dead node's lease runs out
						for h = head(next); h.status == http.StatusConflict && time.Now().Before(deadline); h = head(next) {
							time.Sleep(100 * time.Millisecond)
						}
						if h.status != http.StatusOK || h.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
							t.Fatalf("HEAD after a crash at %s: %d, Upload-Offset %q; want 200 and the full length %d (%q)",
								point, h.status, h.header.Get("Upload-Offset"), len(data), h.body)
						}
						checkGet(t, "after the crash", onNode(get, next), data)
						if proto == "tus" {
							if h2 := head(next); h2.status != http.StatusOK {
								t.Fatalf("second HEAD: %d", h2.status)
							}
						} else if r := send(t, http.MethodPut, d.v1URL(next, name, len(data)), data[len(data)-10:],
							"Content-Range", fmt.Sprintf("bytes %d-%d/%d", len(data)-10, len(data)-1, len(data))); r.status != http.StatusConflict {
							t.Fatalf("a retried last piece after completion: %d (%q), want 409", r.status, r.body)
						}
					})
				}
			}
		})
	}
}
