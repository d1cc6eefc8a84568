//go:build e2e

package e2e

// The admin API against the real binary: on two nodes sharing S3 and Redis, a delete on node
// A is a 404 on node B at once, a takedown on A refuses an upload on B (451), and download
// counts from both nodes add up; on one node, a takedown survives kill -9.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/testkit"
	"fileserver/internal/testpeers"
)

// adminNode is a node with its admin listener.
type adminNode struct {
	*resumableServer
	admin string // base URL of the admin listener
}

const adminToken = "e2e-admin-token-0123456789abcdef0123456789"

func withAdmin(t *testing.T, env []string) ([]string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	return append(append([]string(nil), env...), "FILESERVER_ADMIN_LISTEN="+addr, "FILESERVER_ADMIN_TOKEN=ops:"+adminToken,
		"FILESERVER_ADMIN_COUNT_FLUSH=200ms"), "http://" + addr
}

func (n adminNode) api(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, n.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestAdminAcrossNodes(t *testing.T) {
	g := startVersitygw(t)
	g.makeBucket(t, "admin")
	secret := hex.EncodeToString(testkit.Random(t, 32))
	env := []string{
		"FILESERVER_STORAGE_BACKEND=s3", "FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint, "FILESERVER_STORAGE_S3_BUCKET=admin",
		"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey, "FILESERVER_STORAGE_S3_SECRET_KEY=" + s3SecretKey,
		"FILESERVER_STORAGE_S3_PATH_STYLE=true", "FILESERVER_SESSIONS_STORE=redis",
		"FILESERVER_SESSIONS_REDIS_URL=" + testpeers.Redis(t), "FILESERVER_LOG_FORMAT=json",
	}
	envA, adminA := withAdmin(t, env)
	envB, adminB := withAdmin(t, env)
	a := adminNode{newResumableServerWith(t, secret, envA), adminA}
	b := adminNode{newResumableServerWith(t, secret, envB), adminB}

	body := testkit.Random(t, 50_000)
	for _, name := range []string{"ab/photo.jpg", "ab/clip.mp4", "spam/1.bin", "spam/2.bin"} {
		if code, err := putV1(a.resumableServer, name, body); err != nil || code != http.StatusCreated {
			t.Fatalf("PUT %s on A: %d %v", name, code, err)
		}
	}
	// Downloads on both nodes add up in Redis.
	for _, n := range []adminNode{a, a, b} {
		if code := getStatus(t, n.base+"/upload/ab/photo.jpg"); code != http.StatusOK {
			t.Fatalf("GET: %d", code)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := b.api(t, "GET", "/api/v1/files/ab/photo.jpg", "")
		var f struct {
			Size, Downloads int64
			SHA256          string
		}
		json.Unmarshal(out, &f)
		if code == http.StatusOK && f.Downloads == 3 && f.Size == int64(len(body)) && len(f.SHA256) == 64 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file on B: %d %s, want 3 downloads counted across nodes", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, out := a.api(t, "GET", "/api/v1/files?prefix=ab/", "")
	if code != http.StatusOK || strings.Count(string(out), `"path"`) != 2 {
		t.Fatalf("list on A: %d %s", code, out)
	}

	// A delete on A: B answers 404 at once (after B served the file, so any cache had it).
	if code := getStatus(t, b.base+"/upload/ab/clip.mp4"); code != http.StatusOK {
		t.Fatalf("GET on B before the delete: %d", code)
	}
	if code, out := a.api(t, "DELETE", "/api/v1/files/ab/clip.mp4", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE on A: %d %s", code, out)
	}
	if code := getStatus(t, b.base+"/upload/ab/clip.mp4"); code != http.StatusNotFound {
		t.Errorf("GET on B right after the delete on A: %d, want 404", code)
	}
	if _, err := g.client.StatObject(t.Context(), "admin", "ab/clip.mp4", minio.StatObjectOptions{}); err == nil {
		t.Error("the object is still in the bucket")
	}

	// A takedown on A: the files are gone and B refuses new uploads there.
	code, out = a.api(t, "POST", "/api/v1/takedowns", `{"prefix": "spam/", "reason": "abuse report 42"}`)
	if code != http.StatusCreated || !strings.Contains(string(out), `"removed": 2`) {
		t.Fatalf("takedown on A: %d %s", code, out)
	}
	for _, n := range []adminNode{a, b} {
		if code, err := putV1(n.resumableServer, "spam/3.bin", body); err != nil || code != http.StatusUnavailableForLegalReasons {
			t.Errorf("PUT under the taken-down prefix on %s: %d %v, want 451", n.base, code, err)
		}
		if code := getStatus(t, n.base+"/upload/spam/1.bin"); code != http.StatusNotFound {
			t.Errorf("GET of a taken-down file on %s: %d", n.base, code)
		}
	}
	code, out = b.api(t, "GET", "/api/v1/takedowns", "")
	var list struct{ Takedowns []struct{ ID string } }
	json.Unmarshal(out, &list)
	if code != http.StatusOK || len(list.Takedowns) != 1 {
		t.Fatalf("takedowns on B: %d %s", code, out)
	}
	// Lifted on B, A takes the name again.
	if code, out := b.api(t, "DELETE", "/api/v1/takedowns/"+list.Takedowns[0].ID, ""); code != http.StatusNoContent {
		t.Fatalf("lift on B: %d %s", code, out)
	}
	if code, err := putV1(a.resumableServer, "spam/3.bin", body); err != nil || code != http.StatusCreated {
		t.Errorf("PUT on A after the lift on B: %d %v", code, err)
	}
	// The public listeners serve none of it.
	for _, n := range []adminNode{a, b} {
		req, _ := http.NewRequest("GET", n.base+"/api/v1/files", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s/api/v1/files: %d", n.base, resp.StatusCode)
		}
	}
}

// A takedown is durable once answered: a kill -9 right after it and a restart keep the name
// blocked; the audit log holds it.
func TestTakedownSurvivesKill(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "audit.log")
	env, adminURL := withAdmin(t, []string{"FILESERVER_AUDIT_PATH=" + audit})
	secret := hex.EncodeToString(testkit.Random(t, 32))
	n := adminNode{newResumableServerWith(t, secret, env), adminURL}
	body := testkit.Random(t, 1000)
	if code, err := putV1(n.resumableServer, "x/evil.html", body); err != nil || code != http.StatusCreated {
		t.Fatalf("PUT: %d %v", code, err)
	}
	if code, out := n.api(t, "POST", "/api/v1/takedowns", `{"path": "x/evil.html", "reason": "phishing"}`); code != http.StatusCreated {
		t.Fatalf("takedown: %d %s", code, out)
	}
	n.kill9(t)
	n.start(t)
	if code, err := putV1(n.resumableServer, "x/evil.html", body); err != nil || code != http.StatusUnavailableForLegalReasons {
		t.Errorf("PUT after kill -9 and restart: %d %v, want 451", code, err)
	}
	log, _ := os.ReadFile(audit)
	for _, want := range []string{`"event":"upload_committed","name":"x/evil.html"`, `"event":"takedown"`, `"by":"ops"`, `"reason":"phishing"`} {
		if !bytes.Contains(log, []byte(want)) {
			t.Errorf("audit log lacks %s:\n%s", want, log)
		}
	}
	if bytes.Contains(log, []byte(adminToken)) || bytes.Contains(log, []byte(secret)) {
		t.Error("the audit log holds a secret")
	}
}

// TestDashboardInChromium walks the dashboard in Debian's chromium, driven by playwright-core
// (e2e/dashboard/dashboard.mjs): sign-in, a real upload's progress bar moving, a delete whose
// public URL then answers 404, a takedown that refuses a re-upload, every page at desktop and
// phone width. The screenshots are left in e2e/dashboard/screenshots/.
func TestDashboardInChromium(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is missing: run e2e/install-deps.sh as root")
	}
	requireFile(t, "/usr/bin/chromium", "chromium")
	dir, _ := filepath.Abs("dashboard")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed in %s: run e2e/install-deps.sh (it runs `npm ci` there)", dir)
	}
	env, adminURL := withAdmin(t, nil)
	secret := hex.EncodeToString(testkit.Random(t, 32))
	n := adminNode{newResumableServerWith(t, secret, env), adminURL}
	for _, name := range []string{"shots/photo.jpg", "evil/page.html"} {
		if code, err := putV1(n.resumableServer, name, testkit.Random(t, 20_000)); err != nil || code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", name, code, err)
		}
	}
	const slowSize = 4 << 20
	shots := filepath.Join(dir, "screenshots")
	os.RemoveAll(shots)
	scriptEnv := append(os.Environ(),
		"ADMIN_URL="+adminURL, "PUBLIC_URL="+n.base, "TOKEN="+adminToken, "SHOTS="+shots,
		"SLOW_URL="+signedV1(n.resumableServer, "live/recording.ogg", slowSize), fmt.Sprintf("SLOW_SIZE=%d", slowSize),
		"DELETE_NAME=shots/photo.jpg", "BLOCK_NAME=evil/page.html", "BLOCK_URL="+signedV1(n.resumableServer, "evil/page.html", 5),
	)
	out, errOut, err := run(context.Background(), 3*time.Minute, scriptEnv, node, filepath.Join(dir, "dashboard.mjs"))
	t.Logf("dashboard.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("dashboard.mjs: %v\n%s", err, errOut)
	}
	pngs, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(pngs) < 12 {
		t.Errorf("%d screenshots in %s, want one per page at each width", len(pngs), shots)
	}
	t.Logf("screenshots: %s", shots)
}

// signedV1 is a v1-signed PUT URL for path of size bytes on node.
func signedV1(node *resumableServer, path string, size int) string {
	mac := hmac.New(sha256.New, []byte(node.secret))
	fmt.Fprintf(mac, "%s %d", path, size)
	return node.base + "/upload/" + path + "?v=" + hex.EncodeToString(mac.Sum(nil))
}
