package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fileserver/internal/config"
)

// Real configuration files of each server, as their examples and generators write them,
// become a fileserver configuration that loads, with each key that has an equivalent and a
// note on each that has none.
func TestConfigImport(t *testing.T) {
	cases := []struct {
		name, from, file string
		want, notes      []string
	}{
		{"prosody-filer example (HEAD)", "prosody-filer",
			"listenPort      = \"[::]:5050\"\nsecret          = \"mysecret\"\nstoreDir        = \"./uploads/\"\nuploadSubDir    = \"upload/\"\nlogLevel        = \"warn\"\n",
			[]string{`listen = "[::]:5050"`, `secret = "mysecret"`, "allow_short_secret = true", `prefix = "/upload/"`, `level = "warn"`},
			[]string{"--source ./uploads/"}},
		{"prosody-filer 1.0.3, a long secret", "prosody-filer",
			"Listenport = \"127.0.0.1:5050\"\nSecret = \"0123456789abcdef0123456789abcdef0123\"\nStoredir = \"/srv/upload\"\nUploadSubDir = \"/share/\"\n",
			[]string{`listen = "127.0.0.1:5050"`, `prefix = "/share/"`},
			[]string{"--source /srv/upload"}},
		{"prosody-filer on a unix socket, no secret", "prosody-filer",
			"listenport = \"/run/prosody-filer.sock\"\nunixsocket = true\nsecret = \"\"\nstoreDir = \"/srv/u\"\n",
			nil,
			[]string{"on a unix socket", "secret is empty"}},
		{"hmac-file-server, as -genconfig writes it", "hmac-file-server", `[server]
listen_address = "8080"
bind_ip = "0.0.0.0"
storage_path = "./uploads"
metricsenabled = true
metricsport = "9090"
min_free_bytes = "100MB"
filettl = "8760h"
filettlenabled = true
pidfilepath = "/var/run/hmacfileserver.pid"

[security]
secret = "change-this-to-your-secret"

[logging]
level = "info"
file = "/var/log/hmac-file-server.log"
max_size = 100
max_backups = 7
max_age = 30
compress = true

[timeouts]
readtimeout = "4800s"
writetimeout = "4800s"
idletimeout = "4800s"

[workers]
numworkers = 4
uploadqueuesize = 50
`,
			[]string{`listen = "0.0.0.0:8080"`, `min_free = "100MiB"`, `ttl = "365d"`, `listen = "0.0.0.0:9090"`, "allow_short_secret = true",
				`max_size = "10GiB"`},
			[]string{"server.pidfilepath", "logging.file", "workers.numworkers", "timeouts.readtimeout"}},
		{"hmac-file-server with dedup, ClamAV, JWT, quotas", "hmac-file-server", `[server]
listen_address = "127.0.0.1:8081"
storage_path = "/srv/hfs"
max_upload_size = "2GB"
deduplication_enabled = true
file_naming = "original"
filettlenabled = true
filettl = "30d"
cleanup_interval = "90m"
[security]
secret = "0123456789abcdef0123456789abcdef0123456789"
enablejwt = true
jwtsecret = "x"
[uploads]
allowed_extensions = [".jpg", ".png", ".ogg"]
[deduplication]
enabled = true
directory = "/srv/dedup"
[clamav]
clamavenabled = true
clamavsocket = "/var/run/clamav/clamd.ctl"
maxscansize = "200MB"
[quotas]
enabled = true
default = "100MB"
[redis]
redisenabled = false
`,
			[]string{`listen = "127.0.0.1:8081"`, `max_size = "2GiB"`, "dedup = true", `ttl = "30d"`, `reap_interval = "90m"`,
				`allowed_extensions = [".jpg", ".png", ".ogg"]`, `clamd = "unix:/var/run/clamav/clamd.ctl"`, `max_size = "200MiB"`},
			[]string{"security.enablejwt", "quotas.enabled", "deduplication.directory", "quotas.default", "--source /srv/hfs/"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := translateConfig(c.from, []byte(c.file))
			if err != nil {
				t.Fatal(err)
			}
			body, notes, _ := strings.Cut(out, "# Not carried over")
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("no %s in\n%s", w, out)
				}
			}
			for _, n := range c.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("no note on %s in\n%s", n, out)
				}
			}
			p := filepath.Join(t.TempDir(), "config.toml")
			os.WriteFile(p, []byte(out), 0o644)
			cfg, err := config.Load(p, nil)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Fatalf("the translation does not load: %v\n%s", err, out)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", 30 * time.Minute: "30m", 90 * time.Minute: "90m", 6 * time.Hour: "6h",
		48 * time.Hour: "2d", 8760 * time.Hour: "365d", 90 * time.Second: "1m30s",
	} {
		if got := durationText(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		if back, err := config.ParseDuration(durationText(d)); err != nil || back != d {
			t.Errorf("%v: %q reads back as %v %v", d, durationText(d), back, err)
		}
	}
}
