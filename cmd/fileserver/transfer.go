package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"fileserver/internal/client"
	"fileserver/internal/config"
	"fileserver/internal/hmacauth"
)

// headerFlags collects repeated --header "Name: value" flags.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("header %q is not \"Name: value\"", v)
	}
	http.Header(h).Add(strings.TrimSpace(k), strings.TrimSpace(val))
	return nil
}

// transferFlags are the flags upload and download share (--quiet, repeated --header) over a
// command that takes exactly two arguments.
type transferFlags struct {
	*flag.FlagSet
	quiet   *bool
	headers headerFlags
}

func newTransferFlags(name, argsUsage, about string, stderr io.Writer) *transferFlags {
	fl := &transferFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), headers: headerFlags{}}
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: fileserver %s [flags] %s\n\n%s\n\n", name, argsUsage, about)
		fl.PrintDefaults()
	}
	fl.quiet = fl.Bool("quiet", false, "no progress bar")
	fl.Var(fl.headers, "header", "extra request header \"Name: value\" (repeatable)")
	return fl
}

// parse parses args and insists on the two arguments.
func (fl *transferFlags) parse(args []string) bool {
	if err := fl.Parse(args); err != nil {
		return false
	}
	if fl.NArg() != 2 {
		fl.Usage()
		return false
	}
	return true
}

// progressFor draws progress on stderr when it is a terminal, and nothing otherwise.
func progressFor(stderr io.Writer, quiet bool, label string, total int64) *client.Progress {
	if quiet {
		return nil
	}
	if f, ok := stderr.(*os.File); !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return client.NewProgress(stderr, label, total)
}

func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func upload(args []string, stdout, stderr io.Writer) int {
	fl := newTransferFlags("upload", "FILE URL",
		"URL is the resumable endpoint, e.g. https://host/files/?v3=...&expires=...\n"+
			"FILE - reads standard input to its end (a pipe): the length is announced with the last\n"+
			"request, and a retry can resend only the request in flight (--chunk-size of memory).", stderr)
	var cf configFlags
	cf.register(fl.FlagSet)
	protocol := fl.String("protocol", client.Tus, "tus or ietf")
	resume := fl.String("resume", "", "upload URL of an earlier, interrupted run to continue")
	chunk := fl.String("chunk-size", "0", "largest request, e.g. 8MiB (0: what the server recommends)")
	signIt := fl.Bool("sign", false, "sign the endpoint URL with the local secret (v3, as serve finds it)")
	token := fl.String("token", "", "bearer token for the creation (Authorization: Bearer)")
	name := fl.String("name", "", "file name to announce (default: FILE's base name; \"stdin\" for -)")
	allowEmpty := fl.Bool("allow-empty", false, "upload an empty standard input as an empty file (otherwise refused)")
	if !fl.parse(args) {
		return 2
	}
	headers, quiet := fl.headers, fl.quiet
	path, endpoint := fl.Arg(0), fl.Arg(1)
	fail := func(err error) int {
		fmt.Fprintln(stderr, "fileserver upload:", err)
		return 1
	}
	chunkSize, err := config.ParseSize(*chunk)
	if err != nil {
		return fail(err)
	}
	if *protocol != client.Tus && *protocol != client.IETF {
		return fail(fmt.Errorf("--protocol must be tus or ietf"))
	}
	if *signIt {
		if endpoint, err = signEndpoint(&cf, endpoint); err != nil {
			return fail(err)
		}
	}
	if *token != "" {
		http.Header(headers).Set("Authorization", "Bearer "+*token)
	}
	total, err := uploadSize(path)
	if err != nil {
		return fail(err)
	}
	u := &client.Upload{
		Endpoint: endpoint, UploadURL: *resume, Protocol: *protocol, Header: http.Header(headers),
		ChunkSize: int64(chunkSize), Progress: progressFor(stderr, *quiet, "upload", total), Name: *name,
		OnCreate: func(loc string) {
			fmt.Fprintf(stderr, "upload URL: %s (continue an interrupted run with --resume)\n", loc)
		},
	}
	ctx, stop := interruptible()
	defer stop()
	res, err := runUpload(ctx, u, path, *allowEmpty)
	if err != nil {
		if res.UploadURL != "" {
			fmt.Fprintf(stderr, "fileserver upload: %v\ncontinue with: fileserver upload --resume %s %s %s\n", err,
				shellQuote(res.UploadURL), shellQuote(path), shellQuote(endpoint))
			return 1
		}
		return fail(err)
	}
	return printJSON(stdout, res)
}

// uploadSize is the size of the file at path, for the progress display, or -1 for standard
// input ("-"), whose length is not known until its end.
func uploadSize(path string) (int64, error) {
	if path == "-" {
		return -1, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// runUpload decides what to send: the file at path, or standard input for "-" under the name
// "stdin" unless one was given. An empty standard input is refused unless allowEmpty, because
// a pipe whose producer failed looks just like it and its nothing must never be stored.
func runUpload(ctx context.Context, u *client.Upload, path string, allowEmpty bool) (client.Result, error) {
	if path != "-" {
		return u.Run(ctx, path)
	}
	if u.Name == "" {
		u.Name = "stdin"
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.Peek(1); err == io.EOF && !allowEmpty {
		return client.Result{}, errors.New("standard input is empty: nothing to upload (--allow-empty uploads an empty file)")
	}
	return u.RunStream(ctx, in)
}

// signEndpoint adds a v3 signature for POST to the endpoint's path, valid for a day.
func signEndpoint(cf *configFlags, endpoint string) (string, error) {
	cfg, err := cf.load()
	if err != nil {
		return "", err
	}
	if _, err := resolveSecret(&cfg, false); err != nil {
		return "", err
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	exp := time.Now().Add(24 * time.Hour).Unix()
	q := u.Query()
	q.Set("v3", hmacauth.SignV3(cfg.Auth.Secret, http.MethodPost, u.Path, exp))
	q.Set("expires", strconv.FormatInt(exp, 10))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func download(args []string, stdout, stderr io.Writer) int {
	fl := newTransferFlags("download", "URL FILE", "An interrupted download continues from FILE.part when run again.", stderr)
	if !fl.parse(args) {
		return 2
	}
	headers, quiet := fl.headers, fl.quiet
	d := &client.Download{URL: fl.Arg(0), Header: http.Header(headers), Progress: progressFor(stderr, *quiet, "download", -1)}
	ctx, stop := interruptible()
	defer stop()
	res, err := d.Run(ctx, fl.Arg(1))
	if err != nil {
		fmt.Fprintln(stderr, "fileserver download:", err)
		return 1
	}
	return printJSON(stdout, res)
}

func printJSON(w io.Writer, res client.Result) int {
	fields := map[string]any{"file_url": res.FileURL, "size": res.Size, "sha256": res.SHA256, "verified": res.Verified}
	if res.UploadURL != "" { // a download has none
		fields["upload_url"] = res.UploadURL
	}
	out, _ := json.MarshalIndent(fields, "", "  ")
	fmt.Fprintln(w, string(out))
	return 0
}

// shellQuote quotes s for a POSIX shell when it holds anything a shell would take apart (a
// URL's ? and &): what the client prints to copy and paste must paste intact.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
