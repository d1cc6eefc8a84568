package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestS3FromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("  s3cret\n"), 0o600)
	p := writeFile(t, `
[storage]
backend = "s3"
[storage.s3]
endpoint = "http://127.0.0.1:7070"
bucket = "files"
path_style = true
[sessions]
single_node = true
`)
	cfg, err := Load(p, []string{
		"FILESERVER_STORAGE_S3_PREFIX=up/",
		"FILESERVER_STORAGE_S3_ACCESS_KEY=AK",
		"FILESERVER_STORAGE_S3_SECRET_KEY_FILE=" + secretFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := cfg.Storage.S3
	if s.Endpoint != "http://127.0.0.1:7070" || s.Bucket != "files" || !s.PathStyle || s.Prefix != "up/" || s.Region != "us-east-1" {
		t.Fatalf("storage.s3 = %+v", s)
	}
	ak, sk, err := s.Credentials()
	if err != nil || ak != "AK" || sk != "s3cret" {
		t.Fatalf("Credentials() = %q, %q, %v", ak, sk, err)
	}
	s.SecretKeyFile = filepath.Join(dir, "missing")
	var ce *Error
	if _, _, err := s.Credentials(); !errors.As(err, &ce) || ce.Key != "storage.s3.secret_key_file" {
		t.Fatalf("missing key file: %v", err)
	}
	if EnvName("storage.s3.endpoint") != "FILESERVER_STORAGE_S3_ENDPOINT" {
		t.Fatal(EnvName("storage.s3.endpoint"))
	}
}

func TestValidateS3(t *testing.T) {
	good := S3{Endpoint: "https://s3.example.org", Bucket: "b", Region: "us-east-1", PartSize: 8 * MiB, Concurrency: 2, RedirectExpiry: Duration(time.Minute)}
	for _, tc := range []struct {
		edit func(*S3)
		key  string // "" when valid
	}{
		{func(*S3) {}, ""},
		{func(s *S3) { s.AccessKey, s.SecretKeyFile = "a", "/run/secrets/s3" }, ""},
		{func(s *S3) { s.Endpoint = "" }, "storage.s3.endpoint"},
		{func(s *S3) { s.Endpoint = "s3.example.org" }, "storage.s3.endpoint"},
		{func(s *S3) { s.Endpoint = "https://s3.example.org/bucket" }, "storage.s3.endpoint"},
		{func(s *S3) { s.Bucket = "" }, "storage.s3.bucket"},
		{func(s *S3) { s.AccessKey, s.AccessKeyFile, s.SecretKey = "a", "f", "s" }, "storage.s3.access_key_file"},
		{func(s *S3) { s.SecretKey, s.SecretKeyFile, s.AccessKey = "a", "f", "s" }, "storage.s3.secret_key_file"},
		{func(s *S3) { s.AccessKey = "a" }, "storage.s3.secret_key"},
		{func(s *S3) { s.Prefix = "/files/" }, "storage.s3.prefix"},
		{func(s *S3) { s.PartSize = 4 * MiB }, "storage.s3.part_size"},
		{func(s *S3) { s.Concurrency = 0 }, "storage.s3.concurrency"},
		{func(s *S3) { s.RedirectExpiry = Duration(8 * 24 * time.Hour) }, "storage.s3.redirect_expiry"},
		{func(s *S3) { s.PublicEndpoint = "https://cdn.example.org/bucket" }, "storage.s3.public_endpoint"},
		{func(s *S3) { s.PublicEndpoint = "https://s3.example.org" }, ""},
	} {
		cfg := Default()
		cfg.Storage.Backend = "s3"
		cfg.Sessions.SingleNode = true
		cfg.Storage.S3 = good
		tc.edit(&cfg.Storage.S3)
		err := cfg.Validate()
		var ce *Error
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%+v: %v", cfg.Storage.S3, err)
		case tc.key != "" && (!errors.As(err, &ce) || ce.Key != tc.key):
			t.Errorf("%+v: got %v, want an error on %s", cfg.Storage.S3, err, tc.key)
		}
	}
	// The local backend ignores [storage.s3].
	cfg := Default()
	cfg.Storage.S3.Endpoint = "nonsense"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Backend = "gcs"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"s3"`) {
		t.Fatalf("unknown backend: %v", err)
	}
}

func TestValidateSessions(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		key  string // "" when valid
	}{
		{func(*Config) {}, ""},
		{func(c *Config) { c.Sessions.Store = "redis"; c.Sessions.RedisURL = "redis://127.0.0.1:6379/0" }, ""},
		{func(c *Config) { c.Sessions.Store = "redis" }, "sessions.redis_url"},
		{func(c *Config) { c.Sessions.Store = "redis"; c.Sessions.RedisURL = "http://127.0.0.1:6379" }, "sessions.redis_url"},
		{func(c *Config) { c.Sessions.Store = "etcd" }, "sessions.store"},
		{func(c *Config) { c.Sessions.LockLease = Duration(100 * time.Millisecond) }, "sessions.lock_lease"},
		// Shared object storage with sessions on one node's disk: refused unless declared
		// single-node, or resumable uploads are off.
		{func(c *Config) { useS3(c) }, "sessions.store"},
		{func(c *Config) { useS3(c); c.Sessions.SingleNode = true }, ""},
		{func(c *Config) { useS3(c); c.Resumable.Enabled = false }, ""},
		{func(c *Config) { useS3(c); c.Sessions.Store = "redis"; c.Sessions.RedisURL = "redis://r:6379" }, ""},
		{func(c *Config) {
			useS3(c)
			c.Sessions.SingleNode, c.Storage.S3.PartSize, c.Streaming.MemoryBudget = true, 64*MiB, 64*MiB
		}, "streaming.memory_budget"},
	} {
		cfg := Default()
		tc.edit(&cfg)
		err := cfg.Validate()
		var ce *Error
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%+v: %v", cfg.Sessions, err)
		case tc.key != "" && (!errors.As(err, &ce) || ce.Key != tc.key):
			t.Errorf("%+v: got %v, want an error on %s", cfg.Sessions, err, tc.key)
		}
	}
}

func useS3(c *Config) {
	c.Storage.Backend = "s3"
	c.Storage.S3.Endpoint, c.Storage.S3.Bucket = "http://127.0.0.1:7070", "b"
}
