package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"fileserver/internal/config"
)

// configFlags are the flags every subcommand that reads the configuration accepts.
type configFlags struct {
	file    string
	listen  string
	storage string
	sets    []string
}

// precedence says where settings come from, for --help.
const precedence = `Settings, each layer over the one before: embedded defaults; FILESERVER_DEFAULT_<SECTION>_<KEY>
variables (packaging's defaults: the container image and the systemd unit set them); the --config file
(or $FILESERVER_CONFIG);
FILESERVER_<SECTION>_<KEY> variables; flags. A FILESERVER_ variable that names no key stops start-up.
Every key, with its default: config-adaptive.toml.
`

func (c *configFlags) register(fl *flag.FlagSet) {
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: fileserver %s [flags]\n\n%s\nflags:\n", fl.Name(), precedence)
		fl.PrintDefaults()
	}
	fl.StringVar(&c.file, "config", "", "TOML config file (default: $FILESERVER_CONFIG, else none)")
	fl.StringVar(&c.listen, "listen", "", "listen address host:port (server.listen)")
	fl.StringVar(&c.storage, "storage", "", "data directory (storage.path)")
	fl.Func("set", "set any key: --set upload.max_size=2GiB (repeatable)", func(s string) error {
		c.sets = append(c.sets, s)
		return nil
	})
}

// load applies defaults, the file, the environment, then the flags, and validates.
func (c *configFlags) load() (config.Config, error) {
	if c.file == "" {
		// A container names its config file once, for serve and for its health check.
		c.file = os.Getenv(config.EnvPrefix + "CONFIG")
	}
	cfg, err := config.Load(c.file, os.Environ())
	if err != nil {
		return cfg, err
	}
	sets := c.sets
	if c.listen != "" {
		sets = append(sets, "server.listen="+c.listen)
	}
	if c.storage != "" {
		sets = append(sets, "storage.path="+c.storage)
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return cfg, &config.Error{File: "flag", Key: kv, Reason: "--set needs key=value"}
		}
		if err := cfg.Set(k, v); err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				ce.File = "flag"
			}
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

// secretFile is where serve keeps a generated secret when none is configured.
func secretFile(cfg config.Config) string { return filepath.Join(cfg.Storage.Path, ".secret") }

// resolveSecret returns the configured secret, or the generated one from the data directory,
// generating it (mode 0600) when generate is true. It reports whether it generated one.
func resolveSecret(cfg *config.Config, generate bool) (created bool, err error) {
	if cfg.Auth.Secret != "" {
		return false, nil
	}
	path := secretFile(*cfg)
	data, err := os.ReadFile(path)
	if err == nil {
		cfg.Auth.Secret = strings.TrimSpace(string(data))
		if cfg.Auth.Secret == "" {
			return false, fmt.Errorf("secret file %s is empty", path)
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !generate {
		return false, fmt.Errorf("no secret configured (auth.secret, FILESERVER_AUTH_SECRET, FILESERVER_AUTH_SECRET_FILE) and none generated at %s: %w", path, err)
	}
	var b [32]byte
	rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	if err := os.MkdirAll(cfg.Storage.Path, 0o750); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false, fmt.Errorf("write generated secret: %w", err)
	}
	_, err = io.WriteString(f, secret+"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("write generated secret: %w", err)
	}
	cfg.Auth.Secret = secret
	return true, nil
}

func configCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, "usage: fileserver config check FILE\n")
		return 2
	}
	c := configFlags{file: args[0]}
	cfg, err := c.load()
	if err != nil {
		fmt.Fprintln(stderr, "fileserver:", err)
		return 1
	}
	if cfg.Server.TLSCert != "" {
		// The files must be readable by whoever runs the check, and a valid pair: start-up
		// would fail on them, after the check had said ok.
		if _, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey); err != nil {
			fmt.Fprintf(stderr, "fileserver: config %s: key server.tls_cert: cannot load the certificate and key as uid %d: %v\n",
				args[0], os.Getuid(), err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}
