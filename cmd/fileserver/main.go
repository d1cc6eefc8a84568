// Command fileserver is an HTTP file upload and download server for XMPP (XEP-0363) and
// resumable clients. See README.md.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: fileserver <command> [flags]

commands:
  serve         run the server (flags: --config FILE, --listen ADDR, --storage DIR, --set key=value)
  sign          print a signed upload URL (see: fileserver sign --help)
  upload        resumable upload of a file: fileserver upload [--sign] FILE https://host/files/
  download      resumable download: fileserver download URL FILE
  config check  validate a config file: fileserver config check FILE
  gc            remove expired files now (--dry-run lists them)
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
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, "usage: fileserver config check FILE\n")
			return 2
		}
		return configCheck(args[2:], stdout, stderr)
	case "gc":
		return gc(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(args[1:], stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "fileserver", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "fileserver: unknown command %q\n\n%s", args[0], usage)
	return 2
}
