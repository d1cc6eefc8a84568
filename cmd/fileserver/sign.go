package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
)

func sign(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("sign", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf configFlags
	cf.register(fl)
	protocol := fl.String("protocol", "v2", "signature scheme: v1, v2, v3 or token")
	relPath := fl.String("path", "", "file path under the upload prefix, e.g. photos/cat.jpg (required)")
	size := fl.Int64("size", -1, "exact upload size in bytes (required for v1, v2, token)")
	ctype := fl.String("type", "application/octet-stream", "content type the upload declares (v2, token), as a slot request would")
	expires := fl.String("expires", "1h", "validity of v3 URLs and tokens, e.g. 15m, 24h, 7d")
	method := fl.String("method", "PUT", "HTTP method a v3 URL is for (PUT or POST)")
	base := fl.String("base", "", "public base URL (default: server.public_url, else http://server.listen)")
	secret := fl.String("secret", "", "secret to sign with (default: as serve finds it)")
	resumable := fl.Bool("resumable", false, "sign the URL that creates a tus or IETF upload (POST to resumable.prefix) "+
		"instead of an upload URL: v3 (the default here) or token; --path names the file only for a token")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	defaultToV3(fl, *resumable, protocol)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "fileserver sign: "+format+"\n", a...)
		return 1
	}
	cfg, err := loadSignConfig(&cf, *secret)
	if err != nil {
		return fail("%v", err)
	}
	name, err := signName(*relPath, *resumable)
	if err != nil {
		return fail("%v", err)
	}
	ttl, err := config.ParseDuration(*expires)
	if err != nil || ttl <= 0 {
		return fail("--expires %q is not a positive duration", *expires)
	}
	needSize := *protocol != "v3"
	if needSize && *size < 0 {
		return fail("--size is required for %s", *protocol)
	}
	if *resumable {
		return signCreation(cfg, *protocol, *base, name, *size, *ctype, ttl, stdout, fail)
	}
	if err := signUpload(cfg, *protocol, *base, name, *size, *ctype, *method, ttl, stdout); err != nil {
		return fail("%v", err)
	}
	return 0
}

// defaultToV3 decides the protocol of --resumable when --protocol is not given: v3, which
// can sign the POST that creates an upload, rather than the usual v2, which cannot.
func defaultToV3(fl *flag.FlagSet, resumable bool, protocol *string) {
	if !resumable {
		return
	}
	protocolSet := false
	fl.Visit(func(f *flag.Flag) { protocolSet = protocolSet || f.Name == "protocol" })
	if !protocolSet {
		*protocol = "v3"
	}
}

// loadSignConfig loads the configuration serve would use and decides the secret to sign
// with: --secret if given, else the one serve finds. sign never generates one, since a URL
// signed with a secret the server does not have would be refused.
func loadSignConfig(cf *configFlags, secret string) (config.Config, error) {
	cfg, err := cf.load()
	if err != nil {
		return cfg, err
	}
	if secret != "" {
		cfg.Auth.Secret = secret
	} else if _, err := resolveSecret(&cfg, false); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// signName decides the file name --path gives: relative to the prefix, and "upload" for a
// resumable upload that names none (its token still needs a filename claim).
func signName(relPath string, resumable bool) (string, error) {
	name := strings.TrimPrefix(relPath, "/")
	if resumable && name == "" {
		name = "upload"
	}
	if err := storage.ValidName(name); err != nil {
		return "", fmt.Errorf("--path %q is not a valid relative file path", relPath)
	}
	return name, nil
}

// signUpload prints the upload URL for name signed with protocol, and for a token the
// Authorization header that goes with it (a token's file gets a random slot when its path
// names none).
func signUpload(cfg config.Config, protocol, base, name string, size int64, ctype, method string, ttl time.Duration, stdout io.Writer) error {
	if protocol == "token" && !strings.Contains(name, "/") {
		var b [12]byte
		rand.Read(b[:])
		name = hex.EncodeToString(b[:]) + "/" + name
	}
	prefix := cfg.Upload.Prefix
	u := baseURL(cfg, base, prefix) + prefix + handlers.EscapeName(name)
	now := time.Now()
	switch protocol {
	case "v1":
		u += "?v=" + hmacauth.SignV1(cfg.Auth.Secret, name, size)
	case "v2":
		u += "?v2=" + hmacauth.SignV2(cfg.Auth.Secret, name, size, ctype)
	case "v3":
		exp := now.Add(ttl).Unix()
		u += "?v3=" + hmacauth.SignV3(cfg.Auth.Secret, strings.ToUpper(method), prefix+name, exp) + "&expires=" + strconv.FormatInt(exp, 10)
	case "token":
		slot, file, _ := strings.Cut(name, "/")
		tok := hmacauth.SignToken(cfg.Auth.Secret, hmacauth.Claims{
			Sub: "fileserver-sign", Iat: now.Unix(), Exp: now.Add(ttl).Unix(), Slot: slot,
			Filename: file, Filesize: size, Filetype: ctype,
		})
		fmt.Fprintln(stdout, u)
		fmt.Fprintln(stdout, "Authorization: Bearer "+tok)
		return nil
	default:
		return errors.New("--protocol must be v1, v2, v3 or token")
	}
	fmt.Fprintln(stdout, u)
	return nil
}

// signCreation prints the URL that creates a resumable upload (tus or the IETF draft): POST
// to resumable.prefix, signed v3 for POST on that path; or, with a token, the endpoint and
// the Authorization header whose claims name the file (a fresh slot and name) and its size.
func signCreation(cfg config.Config, protocol, base, name string, size int64, ctype string, ttl time.Duration,
	stdout io.Writer, fail func(string, ...any) int) int {
	prefix := cfg.Resumable.Prefix
	u := baseURL(cfg, base, prefix) + prefix
	now := time.Now()
	switch protocol {
	case "v3":
		exp := now.Add(ttl).Unix()
		fmt.Fprintln(stdout, u+"?v3="+hmacauth.SignV3(cfg.Auth.Secret, "POST", prefix, exp)+"&expires="+strconv.FormatInt(exp, 10))
	case "token":
		var b [12]byte
		rand.Read(b[:])
		tok := hmacauth.SignToken(cfg.Auth.Secret, hmacauth.Claims{
			Sub: "fileserver-sign", Iat: now.Unix(), Exp: now.Add(ttl).Unix(), Slot: hex.EncodeToString(b[:]),
			Filename: name[strings.LastIndexByte(name, '/')+1:], Filesize: size, Filetype: ctype,
		})
		fmt.Fprintln(stdout, u)
		fmt.Fprintln(stdout, "Authorization: Bearer "+tok)
	default:
		return fail("--resumable signs with v3 or token, not %s", protocol)
	}
	return 0
}

// baseURL is where clients reach the server: the flag, server.public_url, or the listen
// address (a wildcard host becomes 127.0.0.1). A base that already ends with prefix (as
// Prosody's http_upload_external_base_url spells it: https://host/upload/) loses it, so the
// prefix is not doubled.
func baseURL(cfg config.Config, flagValue, prefix string) string {
	if flagValue != "" {
		base := strings.TrimRight(flagValue, "/")
		return strings.TrimSuffix(base, strings.TrimRight(prefix, "/"))
	}
	if cfg.Server.PublicURL != "" {
		return strings.TrimRight(cfg.Server.PublicURL, "/")
	}
	scheme := "http"
	if cfg.Server.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + localAddr(cfg.Server.Listen)
}

// localAddr turns a listen address into one this machine can dial.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
