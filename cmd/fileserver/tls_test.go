package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fileserver/internal/testkit"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given serial.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  nil,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Write both through temporary names and rename, as certificate tools do.
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kder}} {
		tmp := f.path + ".tmp"
		os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600)
		os.Rename(tmp, f.path)
	}
	return certFile, keyFile
}

func TestCertReloaderPicksUpRenewal(t *testing.T) {
	dir := t.TempDir()
	cf, kf := writeCert(t, dir, 1)
	r, err := newCertReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0
	serial := func() int64 {
		c, err := r.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf.SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	time.Sleep(10 * time.Millisecond) // a distinct modification time
	writeCert(t, dir, 2)
	if s := serial(); s != 2 {
		t.Fatalf("after renewal serial %d, want 2", s)
	}
	// A broken key file keeps the old certificate in service.
	os.WriteFile(kf, []byte("garbage"), 0o600)
	if s := serial(); s != 2 {
		t.Fatalf("after a broken renewal serial %d, want 2", s)
	}
	if _, err := newCertReloader(cf, kf); err == nil {
		t.Fatal("start-up accepted a broken key")
	}
}

// With tls_cert and tls_key set the server speaks HTTPS and HTTP/2, and a PUT body crosses
// HTTP/2 flow control intact (OkHttp and Qt clients use h2 when offered).
func TestServeTLSWithHTTP2(t *testing.T) {
	dir := t.TempDir()
	cf, kf := writeCert(t, dir, 7)
	secret := "tls-secret-0123456789-0123456789-abcdefgh"
	env := []string{"FILESERVER_AUTH_SECRET=" + secret, "FILESERVER_SERVER_TLS_CERT=" + cf, "FILESERVER_SERVER_TLS_KEY=" + kf}
	addr := testkit.FreeAddr(t)
	s := &server{addr: addr, logs: &syncBuffer{}}
	s.cmd = execServe(env, "--listen", addr, "--storage", filepath.Join(dir, "data"))
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}, Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = client.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("https: %v\n%s", err, s.logs)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	body := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, beyond h2's initial window
	out, errOut, code := runCLI(t, env, "sign", "--listen", addr, "--protocol", "v1", "--path", "h2.bin", "--size", itoa(len(body)))
	if code != 0 || !strings.HasPrefix(out, "https://") {
		t.Fatalf("sign: %d %q %s", code, out, errOut)
	}
	req, _ := http.NewRequest(http.MethodPut, strings.TrimSpace(out), strings.NewReader(body))
	if resp, err = client.Do(req); err != nil || resp.StatusCode != http.StatusCreated || resp.ProtoMajor != 2 {
		t.Fatalf("h2 PUT: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = client.Get("https://" + addr + "/upload/h2.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != body {
		t.Fatalf("h2 download differs (%d bytes)", len(got))
	}
}

// config check opens the certificate and key a config names, as whoever runs it: a pair the
// server could not load (unreadable to that user, or not a pair) fails the check, which would
// otherwise say ok and leave start-up to fail.
func TestConfigCheckOpensTheCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, 1)
	conf := func(c, k string) string {
		p := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(p, []byte("[server]\ntls_cert = \""+c+"\"\ntls_key = \""+k+"\"\n"), 0o644)
		return p
	}
	if out, errOut, code := runCLI(t, nil, "config", "check", conf(cert, key)); code != 0 {
		t.Fatalf("a readable pair: code %d %q %q", code, out, errOut)
	}
	_, other := writeCert(t, t.TempDir(), 2)
	for what, p := range map[string]string{
		"missing key":  conf(cert, filepath.Join(dir, "none.pem")),
		"not its pair": conf(cert, other),
	} {
		if _, errOut, code := runCLI(t, nil, "config", "check", p); code == 0 || !strings.Contains(errOut, "server.tls_cert") {
			t.Errorf("%s: code %d, stderr %q; want a failure naming server.tls_cert", what, code, errOut)
		}
	}
	if os.Geteuid() == 0 {
		// As a user who cannot read the key, the check fails as the server would. Everything
		// but the key is readable by that user.
		base, err := os.MkdirTemp("", "config-check-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		os.Chmod(base, 0o755)
		bin, _ := os.ReadFile(binary)
		os.WriteFile(filepath.Join(base, "fileserver"), bin, 0o755)
		c, k := writeCert(t, base, 3)
		os.Chmod(c, 0o644)
		os.Chmod(k, 0o600)
		p := filepath.Join(base, "c.toml")
		os.WriteFile(p, []byte("[server]\ntls_cert = \""+c+"\"\ntls_key = \""+k+"\"\n"), 0o644)
		cmd := exec.Command(filepath.Join(base, "fileserver"), "config", "check", p)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "permission denied") {
			t.Errorf("as nobody, a root-only key: %v %q; want permission denied", err, out)
		}
	}
}
