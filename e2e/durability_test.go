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
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fileserver/internal/testkit"
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
						data := testkit.Random(t, 3<<20+12345)
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
						if b.name == "local" && proto != "tus" {
							// The file is linked under its name: its record in the expiry index,
							// written before the link, survived the kill, so the reaper finds it.
							logs, _ := filepath.Glob(filepath.Join(crashing.dir, "data", "index", "expiry", "c-*.log"))
							var records string
							for _, l := range logs {
								b, _ := os.ReadFile(l)
								records += string(b)
							}
							if !strings.Contains(records, `"n":"`+name+`"`) {
								t.Fatalf("after a kill at %s the expiry index has no record of %s: %q", point, name, records)
							}
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

// throttled reads data from off at about rate bytes per second, counting what it handed
// out, until stopped.
type throttled struct {
	data []byte
	off  int64
	rate int64
	sent atomic.Int64 // bytes handed to the transport
	stop chan struct{}
}

func (r *throttled) Read(p []byte) (int, error) {
	if r.off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	const piece = 64 << 10
	select {
	case <-r.stop:
		return 0, errors.New("stopped")
	case <-time.After(time.Duration(piece * int64(time.Second) / r.rate)):
	}
	n := copy(p[:min(len(p), piece)], r.data[r.off:])
	r.off += int64(n)
	r.sent.Add(int64(n))
	return n, nil
}

// killRounds uploads data in one tus PATCH after another at rate bytes/s while a node is
// killed with kill -9 at a random moment of each of rounds rounds; then it completes the
// upload without kills. After every kill, the node that goes on (the same one restarted, or
// another) must report an offset no smaller than the last one acknowledged or recovered and
// no larger than what was sent. It returns the bytes the client sent in all.
//
// With wantProgress, at least one kill must leave the upload further than before its PATCH:
// something in flight was checkpointed.
func killRounds(t *testing.T, nodes []*resumableServer, next func(i int, killed *resumableServer) *resumableServer, d deployment, data []byte, rounds int, rate int64, wantProgress bool) int64 {
	t.Helper()
	node := nodes[0]
	loc := d.tusCreate(t, node, nil, "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", tusMetadata("filename", "k.bin")).
		want(t, "creation", http.StatusCreated).header.Get("Location")
	var offset, total int64
	progressed := false
	for i := 0; offset < int64(len(data)); i++ {
		last := i >= rounds
		body := &throttled{data: data, off: offset, rate: rate, stop: make(chan struct{})}
		if last {
			body.rate = 1 << 40 // the rest at once
		}
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPatch, onNode(loc, node), body)
			req.ContentLength = int64(len(data)) - offset
			req.Header.Set("Tus-Resumable", tusResumable)
			req.Header.Set("Content-Type", tusChunkType)
			req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
			resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					err = fmt.Errorf("PATCH: %d", resp.StatusCode)
				}
			}
			done <- err
		}()
		if last {
			if err := <-done; err != nil {
				t.Fatalf("the last PATCH, without kills: %v", err)
			}
			total += body.sent.Load()
			break
		}
		time.Sleep(time.Duration(2000+mathrand.IntN(4000)) * time.Millisecond)
		node.kill9(t)
		close(body.stop)
		<-done
		sent := offset + body.sent.Load()
		total += body.sent.Load()
		node = next(i, node)
		var h reply
		deadline := time.Now().Add(15 * time.Second) // a dead node's lease runs out
		for h = send(t, http.MethodHead, onNode(loc, node), nil, "Tus-Resumable", tusResumable); h.status == http.StatusConflict && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			h = send(t, http.MethodHead, onNode(loc, node), nil, "Tus-Resumable", tusResumable)
		}
		recovered, err := strconv.ParseInt(h.header.Get("Upload-Offset"), 10, 64)
		if h.status != http.StatusOK || err != nil {
			t.Fatalf("round %d: HEAD after the kill: %d %q", i+1, h.status, h.body)
		}
		t.Logf("round %d: killed after %d bytes of the PATCH from %d; the upload resumes at %d", i+1, sent-offset, offset, recovered)
		if recovered < offset || recovered > sent {
			t.Fatalf("round %d: offset %d after the kill; it was %d before the PATCH and %d bytes were sent", i+1, recovered, offset, sent)
		}
		progressed = progressed || recovered > offset
		offset = recovered
	}
	if wantProgress && !progressed {
		t.Fatalf("no kill left more than the offset before its PATCH: nothing in flight was ever checkpointed")
	}
	checkGet(t, "after the kills", onNode(loc, node), data)
	return total
}

// TestKill9WhileStreaming: kill -9 at random moments (2-6 s into each) of tus PATCHes that
// stream a 96 MiB file at 8 MiB/s (one PATCH a round, as tus-js-client and Uppy send by
// default), ten rounds, on local storage (restarted) and on two nodes over S3 and Redis (the
// other node resumes). What was acknowledged or checkpointed survives, and the file ends byte
// for byte. The bytes the client sent for each byte stored are logged, and on local storage
// compared with checkpoints off.
func TestKill9WhileStreaming(t *testing.T) {
	const rounds, rate = 10, 8 << 20
	data := testkit.Random(t, 96<<20)
	t.Run("local", func(t *testing.T) {
		for _, cp := range []struct {
			name string
			env  []string
		}{
			{"checkpoints (defaults)", nil},
			{"no checkpoints", []string{"FILESERVER_RESUMABLE_CHECKPOINT_BYTES=0", "FILESERVER_RESUMABLE_CHECKPOINT_INTERVAL=0"}},
		} {
			secret := strings.Repeat("kill-secret-", 3)
			n := newResumableServerWith(t, secret, cp.env)
			total := killRounds(t, []*resumableServer{n}, func(_ int, killed *resumableServer) *resumableServer {
				killed.start(t)
				return killed
			}, deployment{secret: secret}, data, rounds, rate, cp.env == nil)
			t.Logf("local, %s: the client sent %.2f bytes for every byte stored", cp.name, float64(total)/float64(len(data)))
		}
	})
	t.Run("s3+redis", func(t *testing.T) {
		g := startVersitygw(t)
		g.makeBucket(t, "kill")
		secret := strings.Repeat("kill-secret-", 3)
		env := []string{
			"FILESERVER_STORAGE_BACKEND=s3",
			"FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint,
			"FILESERVER_STORAGE_S3_BUCKET=kill",
			"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey,
			"FILESERVER_STORAGE_S3_SECRET_KEY=" + s3SecretKey,
			"FILESERVER_STORAGE_S3_PATH_STYLE=true",
			"FILESERVER_SESSIONS_STORE=redis",
			"FILESERVER_SESSIONS_REDIS_URL=" + testpeers.Redis(t),
			"FILESERVER_SESSIONS_LOCK_LEASE=1s",
		}
		nodes := []*resumableServer{newResumableServerWith(t, secret, env), newResumableServerWith(t, secret, env)}
		total := killRounds(t, nodes, func(i int, killed *resumableServer) *resumableServer {
			other := nodes[(i+1)%2]
			if other == killed {
				other = nodes[i%2]
			}
			killed.start(t) // back for a later round
			return other
		}, deployment{secret: secret}, data, rounds, rate, true)
		t.Logf("s3+redis, checkpoints: the client sent %.2f bytes for every byte stored", float64(total)/float64(len(data)))
	})
}
