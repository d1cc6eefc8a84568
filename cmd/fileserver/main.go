// Command fileserver is an HTTP file upload and download server for XMPP (XEP-0363) and
// resumable clients. See README.md.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version and revision are set at build time (scripts/build.sh) with -ldflags
// "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = ""
)

// versionLine is what `fileserver version` prints: the version, the VCS revision (from the
// build's stamp, else from Go's own build info when it has one) and the Go release.
func versionLine() string {
	rev, modified := revision, false
	if info, ok := debug.ReadBuildInfo(); ok && rev == "" {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	if modified {
		rev += "+modified"
	}
	return fmt.Sprintf("fileserver %s (revision %s, %s)", version, rev, runtime.Version())
}

const usage = `usage: fileserver <command> [flags]

commands:
  serve         run the server (flags: --config FILE, --listen ADDR, --storage DIR, --set key=value)
  sign          print a signed upload URL (see: fileserver sign --help)
  upload        resumable upload of a file: fileserver upload [--sign] FILE https://host/files/
  download      resumable download: fileserver download URL FILE
  config check  validate a config file: fileserver config check FILE
  config import print a fileserver config from a prosody-filer or hmac-file-server one
                (fileserver config import --from NAME FILE)
  gc            remove expired files now (--dry-run lists them)
  import        adopt a prosody-filer or hmac-file-server storage tree, every old URL kept
                (fileserver import --from NAME --source DIR [--copy] [--dry-run])
  healthcheck   exit 0 when the local server answers /healthz (for container HEALTHCHECK)
  version       print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "sign":
		return sign(args[1:], stdout, stderr)
	case "upload":
		return upload(args[1:], stdout, stderr)
	case "download":
		return download(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "import":
		return importCmd(args[1:], stdout, stderr)
	case "gc":
		return gc(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionLine())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "fileserver: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// configCmd runs `fileserver config check` or `fileserver config import`.
func configCmd(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) >= 1 && args[0] == "check":
		return configCheck(args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "import":
		return configImport(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, "usage: fileserver config check FILE | fileserver config import --from NAME FILE\n")
	return 2
}
