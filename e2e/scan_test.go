//go:build e2e

package e2e

// Malware scanning against the real binary, a real clamd and a real S3 server: on S3 a
// resumable upload cannot be read back before its parts are joined, so it is scanned once
// committed and removed before it is answered; a plain PUT is scanned as it streams. Nothing
// infected stays in the bucket; the audit log and the metrics record the verdicts.

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/testkit"
	"fileserver/internal/testpeers"
)

func TestMalwareScanOnS3(t *testing.T) {
	bad := testkit.Random(t, 11<<20) // more than one 8 MiB part
	clean := append(bytes.Clone(bad[:len(bad)-1]), bad[len(bad)-1]^1)
	sock := testpeers.Clamd(t, testpeers.Signature{Name: "Fileserver.E2E.Malware", Content: bad})
	g := startVersitygw(t)
	g.makeBucket(t, "scan")
	audit := filepath.Join(t.TempDir(), "audit.log")
	secret := hex.EncodeToString(testkit.Random(t, 32))
	s := newResumableServerWith(t, secret, []string{
		"FILESERVER_STORAGE_BACKEND=s3", "FILESERVER_STORAGE_S3_ENDPOINT=" + g.endpoint, "FILESERVER_STORAGE_S3_BUCKET=scan",
		"FILESERVER_STORAGE_S3_ACCESS_KEY=" + s3AccessKey, "FILESERVER_STORAGE_S3_SECRET_KEY=" + s3SecretKey,
		"FILESERVER_STORAGE_S3_PATH_STYLE=true", "FILESERVER_SESSIONS_SINGLE_NODE=true",
		"FILESERVER_SCAN_CLAMD=unix:" + sock, "FILESERVER_SCAN_MAX_SIZE=64MiB", "FILESERVER_AUDIT_PATH=" + audit,
	})
	inBucket := func(name string) bool {
		_, err := g.client.StatObject(context.Background(), "scan", name, minio.StatObjectOptions{})
		return err == nil
	}
	// Resumable, in two PATCHes: refused with 422 at the last one, and not in the bucket.
	u := s.tusCreate(t, int64(len(bad)), "bad.bin")
	client := &http.Client{Timeout: time.Minute}
	if code, _, err := tusPatch(client, u, 0, bytes.NewReader(bad[:5<<20]), 5<<20); code != http.StatusNoContent {
		t.Fatalf("first PATCH: %d %v", code, err)
	}
	code, _, _ := tusPatch(client, u, 5<<20, bytes.NewReader(bad[5<<20:]), int64(len(bad)-5<<20))
	if code != http.StatusUnprocessableEntity {
		t.Errorf("the PATCH that completes an infected upload: %d, want 422", code)
	}
	id := u[strings.LastIndex(u, "/")+1:]
	if inBucket(id + "/bad.bin") {
		t.Error("the infected resumable upload is in the bucket")
	}
	// A plain PUT, scanned as it streams.
	if code, err := putV1(s, "p/bad.bin", bad); err != nil || code != http.StatusUnprocessableEntity {
		t.Errorf("an infected PUT: %d %v, want 422", code, err)
	}
	if inBucket("p/bad.bin") {
		t.Error("the infected PUT is in the bucket")
	}
	u = s.tusCreate(t, int64(len(clean)), "clean.bin")
	patchAll(t, u, clean, 0, 4<<20)
	checkGet(t, "clean resumable upload", s.base+"/upload/"+u[strings.LastIndex(u, "/")+1:]+"/clean.bin", clean)
	if code, err := putV1(s, "p/clean.bin", clean); err != nil || code != http.StatusCreated {
		t.Fatalf("a clean PUT: %d %v", code, err)
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`fileserver_scans_total{verdict="infected"} 2`, `fileserver_scans_total{verdict="clean"} 2`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	log, _ := os.ReadFile(audit)
	if n := bytes.Count(log, []byte(`"event":"upload_infected"`)); n != 2 || !bytes.Contains(log, []byte("Fileserver.E2E.Malware")) ||
		!bytes.Contains(log, []byte(`"scan":"clean"`)) {
		t.Errorf("audit log (%d infected lines):\n%s", n, log)
	}
}
