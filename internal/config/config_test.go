package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The documented file must be the defaults exactly, and document every key.
func TestDocumentedConfigIsTheDefaults(t *testing.T) {
	got, err := Load("../../config-adaptive.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("config-adaptive.toml differs from Default():\n got %+v\nwant %+v", got, want)
	}
	data, _ := os.ReadFile("../../config-adaptive.toml")
	section := ""
	var documented []string
	for _, line := range strings.Split(string(data), "\n") {
		if m := regexp.MustCompile(`^\[([a-z0-9_.]+)\]`).FindStringSubmatch(line); m != nil {
			section = m[1]
		} else if m := regexp.MustCompile(`^([a-z0-9_]+) =`).FindStringSubmatch(line); m != nil {
			documented = append(documented, section+"."+m[1])
		}
	}
	sort.Strings(documented)
	if !reflect.DeepEqual(documented, Keys()) {
		t.Fatalf("documented keys %v\n config keys %v", documented, Keys())
	}
}

// normalize treats nil and empty lists alike.
func normalize(c Config) Config {
	for _, p := range []*[]string{&c.Server.TrustedProxies, &c.Auth.PreviousSecrets, &c.Upload.AllowedExtensions, &c.Upload.DeniedExtensions, &c.CORS.AllowedOrigins, &c.Metrics.AllowedNetworks} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return c
}

func TestTestConfigIsValid(t *testing.T) {
	c, err := Load("../../test-config.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, toml, key string
		line            int
		reason          string
	}{
		{"unknown key", "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n", "server.lisen", 3, "unknown key"},
		{"unknown section", "[bogus]\nx = 1\n", "bogus", 1, "unknown key"},
		{"bad size unit", "[upload]\nmax_size = \"12QB\"\n", "upload.max_size", 2, "unknown unit"},
		{"bad duration", "[server]\n\nidle_timeout = \"soon\"\n", "server.idle_timeout", 3, "duration"},
		{"wrong type", "[cors]\nenabled = \"yes\"\n", "cors.enabled", 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.toml)
			_, err := Load(p, nil)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if ce.File != p || ce.Key != tc.key || ce.Line != tc.line || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("got file=%q line=%d key=%q reason=%q; want line %d key %q reason ~%q",
					ce.File, ce.Line, ce.Key, ce.Reason, tc.line, tc.key, tc.reason)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("message %q lacks file or key", err)
			}
		})
	}
}

func TestPrecedenceDefaultsFileEnv(t *testing.T) {
	p := writeFile(t, "[server]\nlisten = \"127.0.0.1:9000\"\n[upload]\nmax_size = \"2GiB\"\n")
	c, err := Load(p, []string{
		"FILESERVER_UPLOAD_MAX_SIZE=500MB",
		"FILESERVER_UPLOAD_DENIED_EXTENSIONS=.exe, .bat",
		"FILESERVER_CORS_ENABLED=false",
		"OTHER_VAR=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != "127.0.0.1:9000" {
		t.Errorf("file value lost: listen %q", c.Server.Listen)
	}
	if c.Upload.MaxSize != 500_000_000 {
		t.Errorf("env did not override file: max_size %d", c.Upload.MaxSize)
	}
	if !reflect.DeepEqual(c.Upload.DeniedExtensions, []string{".exe", ".bat"}) {
		t.Errorf("list from env: %q", c.Upload.DeniedExtensions)
	}
	if c.CORS.Enabled {
		t.Error("bool from env not applied")
	}
	if c.Upload.Prefix != "/upload/" {
		t.Errorf("default lost: prefix %q", c.Upload.Prefix)
	}
	if err := c.Set("server.listen", ":7000"); err != nil || c.Server.Listen != ":7000" {
		t.Errorf("Set: %v %q", err, c.Server.Listen)
	}
	if err := c.Set("server.nope", "1"); err == nil {
		t.Error("Set accepted an unknown key")
	}
}

// Packaging's defaults (FILESERVER_DEFAULT_*) lie below the file: a key the admin's file sets
// wins over them, a key it leaves out takes them, and FILESERVER_* still wins over the file.
func TestDefaultEnvBelowTheFile(t *testing.T) {
	p := writeFile(t, "[server]\nlisten = \"127.0.0.1:9000\"\n")
	c, err := Load(p, []string{
		"FILESERVER_DEFAULT_SERVER_LISTEN=0.0.0.0:8080",
		"FILESERVER_DEFAULT_STORAGE_PATH=/data",
		"FILESERVER_DEFAULT_UPLOAD_MAX_SIZE=1MB",
		"FILESERVER_UPLOAD_MAX_SIZE=2MB",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != "127.0.0.1:9000" || c.Storage.Path != "/data" || c.Upload.MaxSize != 2_000_000 {
		t.Fatalf("listen %q (file), path %q (default), max_size %d (env over default): want the file, the default, the env",
			c.Server.Listen, c.Storage.Path, c.Upload.MaxSize)
	}
}

// A FILESERVER_ variable that names no key stops start-up with the nearest one that does: a
// typo in a container's or a unit's environment must not be silently ignored.
func TestUnknownEnvVariable(t *testing.T) {
	for name, want := range map[string]string{
		"FILESERVER_UPLOAD_MAXSIZE":      "FILESERVER_UPLOAD_MAX_SIZE",
		"FILESERVER_SERVER_LISTN":        "FILESERVER_SERVER_LISTEN",
		"FILESERVER_DEFAULT_STORAGE_PTH": "FILESERVER_DEFAULT_STORAGE_PATH",
		"FILESERVER_AUTH_SECRET_FIEL":    "FILESERVER_AUTH_SECRET_FILE",
	} {
		_, err := Load("", []string{name + "=1"})
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), want+"?") {
			t.Errorf("%s: err %v, want it named with %s suggested", name, err, want)
		}
	}
	// Not configuration: the test suites' own variables, and what other programs set.
	if _, err := Load("", []string{"FILESERVER_TEST_PEERS=require", "FILESERVER_E2E_BIN=/x", "FILESERVERX=1", "PATH=/bin"}); err != nil {
		t.Errorf("variables that are not configuration: %v", err)
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	_, err := Load("", []string{"FILESERVER_UPLOAD_MAX_SIZE=lots"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "upload.max_size" || !strings.Contains(err.Error(), "FILESERVER_UPLOAD_MAX_SIZE") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(p, []byte("  from-a-file-0123456789-0123456789-abcdef\n"), 0o600)
	c, err := Load("", []string{"FILESERVER_AUTH_SECRET_FILE=" + p})
	if err != nil || c.Auth.Secret != "from-a-file-0123456789-0123456789-abcdef" {
		t.Fatalf("secret %q err %v", c.Auth.Secret, err)
	}
	_, err = Load("", []string{"FILESERVER_AUTH_SECRET_FILE=/nonexistent/x"})
	if err == nil || !strings.Contains(err.Error(), "auth.secret") {
		t.Fatalf("missing secret file: err %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		key   string
		value string
	}{
		{"server.listen", "nohostport"},
		{"server.public_url", "ftp://x"},
		{"server.public_url", "example.org"},
		{"server.tls_cert", "/a.pem"}, // without tls_key
		{"storage.backend", "floppy"},
		{"storage.path", ""},
		{"auth.secret", "short"},
		{"auth.previous_secrets", "short-old-secret"},
		{"auth.max_token_lifetime", "10s"},
		{"resumable.checkpoint_bytes", "4KiB"},
		{"resumable.checkpoint_interval", "1ms"},
		{"upload.prefix", "upload"},
		{"upload.prefix", "/up/../x/"},
		{"upload.prefix", "/"},
		{"upload.allowed_extensions", "."},
		{"streaming.buffer_size", "1KiB"},
		{"thumbnails.keep", "10m"},
		{"metrics.path", "/upload/metrics"},
		{"log.level", "loud"},
		{"log.format", "xml"},
	}
	for _, tc := range cases {
		c := Default()
		if err := c.Set(tc.key, tc.value); err != nil {
			t.Fatalf("Set(%s): %v", tc.key, err)
		}
		err := c.Validate()
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%s=%q: err %v, want an error naming %s", tc.key, tc.value, err, tc.key)
		}
	}
	c := Default()
	c.Auth.Secret = "short"
	c.Auth.PreviousSecrets = []string{"shorter"}
	c.Auth.AllowShortSecret = true
	if err := c.Validate(); err != nil {
		t.Errorf("allow_short_secret ignored: %v", err)
	}
	d := Default()
	if err := d.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	cases := map[string]Size{
		"0": 0, "1024": 1024, "1KiB": 1024, "1k": 1024, "500MB": 500e6, "1.5GB": 1.5e9,
		"1GiB": 1 << 30, "2 MiB": 2 << 20, "10b": 10, "1TiB": 1 << 40,
	}
	for in, want := range cases {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1GB", "1.2.3MB", "12QB", "1e9", "99999999TiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{
		"0": 0, "90s": 90 * time.Second, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "0.5d": 12 * time.Hour, "1h30m": 90 * time.Minute,
	}
	for in, want := range cases {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// 110000d overflowed time.Duration into a negative value (found by FuzzParseDuration).
	for _, bad := range []string{"", "d", "soon", "-5s", "5", "1dd", "110000d", "36501d", "1000000h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1GiB", "1.5GB", "500 MB", "12QB", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err == nil && v < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, v)
		}
		if err == nil {
			back, err := ParseSize(v.String())
			if err != nil || back != v {
				t.Fatalf("round trip of %q: %q -> %d, %v", s, v.String(), back, err)
			}
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "90s", "7d", "1d12h", "-1d", "1.5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
	})
}

// A duration written the way people say it gets the forms that parse.
func TestDurationErrorShowsForms(t *testing.T) {
	_, err := ParseDuration("30 days")
	if err == nil || !strings.Contains(err.Error(), "30d") || !strings.Contains(err.Error(), "720h") {
		t.Fatalf("err %v: want the accepted forms", err)
	}
}

func TestAdminTokens(t *testing.T) {
	long := strings.Repeat("k", MinAdminToken)
	p := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(p, []byte("# the on-call team\nbob:"+long+"b\n\ncarol:"+long+"c\n"), 0o600)
	c, err := Load("", []string{"FILESERVER_ADMIN_LISTEN=127.0.0.1:8081", "FILESERVER_ADMIN_TOKEN=" + long + ",alice:" + long + "a",
		"FILESERVER_ADMIN_TOKEN_FILE=" + p})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Admin.ParsedTokens()
	want := []AdminToken{{"admin", long}, {"alice", long + "a"}, {"bob", long + "b"}, {"carol", long + "c"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("tokens %v err %v", got, err)
	}
	for name, env := range map[string][]string{
		"short":       {"FILESERVER_ADMIN_TOKEN=alice:" + long[1:]},
		"same name":   {"FILESERVER_ADMIN_TOKEN=a:" + long + "1,a:" + long + "2"},
		"same token":  {"FILESERVER_ADMIN_TOKEN=a:" + long + ",b:" + long},
		"bad name":    {"FILESERVER_ADMIN_TOKEN=a b:" + long},
		"no token":    {"FILESERVER_ADMIN_LISTEN=127.0.0.1:8081"},
		"same listen": {"FILESERVER_ADMIN_LISTEN=127.0.0.1:8080", "FILESERVER_ADMIN_TOKEN=" + long},
		"no file":     {"FILESERVER_ADMIN_TOKEN_FILE=/nonexistent/x"},
	} {
		c, err := Load("", env)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), "admin.") {
			t.Errorf("%s: err %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), long[:MinAdminToken-2]) {
			t.Errorf("%s: the error quotes the token: %v", name, err)
		}
	}
}

func TestScanAddress(t *testing.T) {
	for in, want := range map[string]string{
		"unix:/run/clamav/clamd.ctl": "unix /run/clamav/clamd.ctl", "/run/x.sock": "unix /run/x.sock",
		"tcp:127.0.0.1:3310": "tcp 127.0.0.1:3310", "localhost:3310": "tcp localhost:3310",
	} {
		n, a, err := Scan{Clamd: in}.Address()
		if err != nil || n+" "+a != want {
			t.Errorf("%q: %s %s %v", in, n, a, err)
		}
	}
	for _, bad := range []string{"nonsense", "clamd:", "a:b:c"} {
		c := Default()
		c.Scan.Clamd = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "scan.clamd") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
