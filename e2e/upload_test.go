//go:build e2e

package e2e

// TestXMPPUpload: real Prosody 0.12 issues XEP-0363 slots pointing at our
// fileserver, a real XMPP client (slixmpp; go-sendxmpp as a second one) uploads
// through them, and what our server serves back is byte-identical.
//
// Run: e2e/install-deps.sh (as root, once), then go test -tags e2e ./e2e/
// FILESERVER_E2E_BIN=/path/to/fileserver skips the build of ./cmd/fileserver.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fileserver/internal/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// fileserver is one running instance of the server under test.
type fileserver struct {
	base   string // http://127.0.0.1:PORT
	secret string
	proc   *proc
}

func startFileserver(t *testing.T, extraEnv ...string) *fileserver {
	t.Helper()
	bin := serverBinary(t)
	dir := t.TempDir()
	port := testkit.FreePort(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	fs := &fileserver{base: fmt.Sprintf("http://127.0.0.1:%d", port), secret: hex.EncodeToString(secret)}
	// Only env vars: the test does not depend on any other config key.
	env := append([]string{
		"FILESERVER_SERVER_LISTEN=" + fmt.Sprintf("127.0.0.1:%d", port),
		"FILESERVER_SERVER_PUBLIC_URL=" + fs.base,
		"FILESERVER_STORAGE_PATH=" + filepath.Join(dir, "data"),
		"FILESERVER_AUTH_SECRET=" + fs.secret,
		"FILESERVER_UPLOAD_PREFIX=/upload/",
		"FILESERVER_UPLOAD_MAX_SIZE=100MiB",
	}, extraEnv...)
	fs.proc = startProc(t, "fileserver", dir, env, bin, "serve")
	fs.proc.waitHTTP200(t, fs.base+"/readyz", 20*time.Second)
	return fs
}

// upload is one file a client pushes through a slot.
type upload struct {
	name     string // file name declared in the slot request
	size     int
	slotType string // content type of the slot request
	putType  string // Content-Type of the PUT when it differs from slotType
	wantType string // Content-Type the download must carry
}

// slotResult is what xmpp_upload.py prints.
type slotResult struct {
	Service     string            `json:"service"`
	MaxFileSize *int64            `json:"max_file_size"`
	GetURL      string            `json:"get_url"`
	PutURL      string            `json:"put_url"`
	PutHeaders  map[string]string `json:"put_headers"`
	Status      int               `json:"status"`
}

func TestXMPPUpload(t *testing.T) {
	requireProsody(t)
	requireFile(t, pythonBin, "python3")
	script, err := filepath.Abs("xmpp_upload.py")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(context.Background(), 20*time.Second, nil, pythonBin, "-c", "import slixmpp, aiohttp"); err != nil {
		t.Fatalf("slixmpp is not importable by %s: install the Debian package \"python3-slixmpp\" (run e2e/install-deps.sh as root): %v", pythonBin, err)
	}
	requireFile(t, "/usr/bin/go-sendxmpp", "go-sendxmpp")

	fs := startFileserver(t)

	modes := []struct {
		protocol string
		uploads  []upload
	}{
		{"v1", []upload{
			{name: "Grüße файл.png", size: 300 << 10, slotType: "image/png", wantType: "image/png"},
			{name: "a+b c.bin", size: 1<<20 + 123, slotType: "application/octet-stream", wantType: "application/octet-stream"},
		}},
		{"v2", []upload{
			{name: "Grüße файл +2.png", size: 1536 << 10, slotType: "image/png", wantType: "image/png"},
			// The slot says image/png, the PUT says application/octet-stream (Dino, Monal, OMEMO).
			{name: "octet + stream.png", size: 700<<10 + 1, slotType: "image/png", putType: "application/octet-stream", wantType: "image/png"},
		}},
		{"token", []upload{
			{name: "Grüße файл + token.png", size: 3 << 20, slotType: "image/png", wantType: "image/png"},
			{name: "plain+file name.txt", size: 400 << 10, slotType: "text/plain", wantType: "text/plain"},
		}},
	}
	for _, mode := range modes {
		t.Run(mode.protocol, func(t *testing.T) {
			t.Parallel()
			base := fs.base + "/upload/"
			p := startProsody(t, uploadComponent(mode.protocol, base, fs.secret))
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("slots Prosody issued:\n%s", p.slotLines())
				}
			})
			for i, u := range mode.uploads {
				t.Run(fmt.Sprintf("slixmpp-%d", i), func(t *testing.T) {
					data := testkit.Random(t, u.size)
					local := filepath.Join(t.TempDir(), "payload")
					if err := os.WriteFile(local, data, 0o600); err != nil {
						t.Fatal(err)
					}
					args := []string{script, "upload", "--jid", alice.jid(), "--password", alice.password,
						"--port", strconv.Itoa(p.c2sPort), "--file", local, "--name", u.name, "--content-type", u.slotType}
					if u.putType != "" {
						args = append(args, "--put-content-type", u.putType)
					}
					out, stderr, err := run(context.Background(), 60*time.Second, nil, pythonBin, args...)
					if err != nil {
						t.Fatalf("slixmpp upload of %q (%d bytes, slot type %s, PUT type %s) failed:\n%v\nfileserver log tail:\n%s",
							u.name, u.size, u.slotType, orSame(u.putType), err, tail(fs.proc.logPath, 20))
					}
					var res slotResult
					if err := json.Unmarshal([]byte(out), &res); err != nil {
						t.Fatalf("xmpp_upload.py printed no JSON (%v): %q; stderr: %s", err, out, stderr)
					}
					t.Logf("%s: slot from %s, GET %s", u.name, res.Service, res.GetURL)
					if res.Status != http.StatusCreated {
						t.Errorf("PUT %s (Content-Type %s): status %d, want 201", res.PutURL, orSame(u.putType), res.Status)
					}
					if res.Service != uploadHost {
						t.Errorf("upload service = %q, want %q", res.Service, uploadHost)
					}
					if !strings.HasPrefix(res.GetURL, base) || !strings.HasPrefix(res.PutURL, base) {
						t.Fatalf("slot URLs do not point at the fileserver %s: GET %s PUT %s", base, res.GetURL, res.PutURL)
					}
					if mode.protocol == "token" && !strings.HasPrefix(res.PutHeaders["Authorization"], "Bearer ") {
						t.Errorf("token slot carries no Bearer Authorization header: %v", res.PutHeaders)
					}
					checkDownload(t, res.GetURL, data, u.wantType)
					putType := u.slotType
					if u.putType != "" {
						putType = u.putType
					}
					checkSecondPut(t, res, data, putType)
				})
			}
			t.Run("go-sendxmpp", func(t *testing.T) { sendxmppUpload(t, p, fs, script) })
		})
	}
}

// sendxmppUpload has go-sendxmpp upload a file and send its URL to bob; bob
// reads the URL from his offline messages, and the download must match.
func sendxmppUpload(t *testing.T, p *prosody, fs *fileserver, script string) {
	dir := t.TempDir()
	data := testkit.Random(t, 2<<20+7)
	local := filepath.Join(dir, "Grüße send + 1.png")
	if err := os.WriteFile(local, data, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", p.c2sPort)
	// HOME: keep it from reading a real ~/.config/go-sendxmpp/sendxmpprc.
	if _, _, err := run(context.Background(), 60*time.Second, []string{"HOME=" + dir}, "/usr/bin/go-sendxmpp",
		"-u", alice.jid(), "-p", alice.password, "-j", addr, "-n", "--timeout", "20",
		"-h", local, bob.jid()); err != nil {
		t.Fatalf("go-sendxmpp -h failed: %v\nfileserver log tail:\n%s", err, tail(fs.proc.logPath, 20))
	}
	out, stderr, err := run(context.Background(), 40*time.Second, nil, pythonBin, script, "receive",
		"--jid", bob.jid(), "--password", bob.password, "--port", strconv.Itoa(p.c2sPort), "--timeout", "20")
	if err != nil {
		t.Fatalf("bob did not receive go-sendxmpp's message: %v", err)
	}
	var msg struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal([]byte(out), &msg); err != nil {
		t.Fatalf("receive printed no JSON (%v): %q; stderr: %s", err, out, stderr)
	}
	getURL := strings.TrimSpace(msg.Body)
	t.Logf("go-sendxmpp sent %s", getURL)
	if !strings.HasPrefix(getURL, fs.base+"/upload/") {
		t.Fatalf("go-sendxmpp's message is not a fileserver URL: %q", msg.Body)
	}
	checkDownload(t, getURL, data, "image/png")
}

// checkDownload: GET answers 200 with the exact Content-Length and the same
// sha256; HEAD answers 200 with the same Content-Length and no body.
func checkDownload(t *testing.T, url string, want []byte, wantType string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %q", url, resp.StatusCode, clip(body))
	}
	if resp.ContentLength != int64(len(want)) {
		t.Errorf("GET %s: Content-Length %d (header %q), want %d", url, resp.ContentLength, resp.Header.Get("Content-Length"), len(want))
	}
	if got, exp := testkit.SHA256(body), testkit.SHA256(want); got != exp {
		t.Errorf("GET %s: sha256 %s (%d bytes), uploaded %s (%d bytes)", url, got, len(body), exp, len(want))
	}
	if ct := resp.Header.Get("Content-Type"); wantType != "" {
		if mt, params, err := mime.ParseMediaType(ct); err != nil || mt != wantType || len(params) != 0 {
			t.Errorf("GET %s: Content-Type %q, want bare %q", url, ct, wantType)
		}
	}

	req, _ := http.NewRequest(http.MethodHead, url, nil)
	hresp, err := client.Do(req)
	if err != nil {
		t.Fatalf("HEAD %s: %v", url, err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		t.Errorf("HEAD %s: status %d, want 200", url, hresp.StatusCode)
	}
	if cl := hresp.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
		t.Errorf("HEAD %s: Content-Length %q, want %d", url, cl, len(want))
	}
}

// checkSecondPut replays the PUT of a completed slot (same URL, headers and
// body): the server must answer 409 and keep the stored file.
func checkSecondPut(t *testing.T, res slotResult, data []byte, contentType string) {
	t.Helper()
	other := bytes.Repeat([]byte{'x'}, len(data))
	req, err := http.NewRequest(http.MethodPut, res.PutURL, bytes.NewReader(other))
	if err != nil {
		t.Fatalf("second PUT: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range res.PutHeaders {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("second PUT %s: %v", res.PutURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("second PUT to the same slot %s (Content-Length %d, Content-Type %s, headers %v): status %d, want 409; body %q",
			res.PutURL, len(other), contentType, redact(res.PutHeaders), resp.StatusCode, clip(body))
	}
	// Whatever it answered, the stored file must be the first upload.
	checkDownload(t, res.GetURL, data, "")
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func orSame(s string) string {
	if s == "" {
		return "(same)"
	}
	return s
}

func redact(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if len(v) > 20 {
			v = v[:20] + "..."
		}
		out[k] = v
	}
	return out
}
