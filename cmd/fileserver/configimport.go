package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"fileserver/internal/config"
)

// configImport prints a fileserver configuration with every key of a prosody-filer or
// hmac-file-server configuration that has an equivalent, and a commented list of those that
// have none, and why.
func configImport(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 || args[0] != "--from" || !importFrom[args[1]] {
		fmt.Fprint(stderr, "usage: fileserver config import --from prosody-filer|hmac-file-server FILE\n")
		return 2
	}
	data, err := os.ReadFile(args[2])
	if err != nil {
		fmt.Fprintln(stderr, "fileserver config import:", err)
		return 1
	}
	out, err := translateConfig(args[1], data)
	if err != nil {
		fmt.Fprintf(stderr, "fileserver config import: %s: %v\n", args[2], err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}

// oldConfig is another server's configuration, its keys lowercased (both servers match keys
// regardless of case), by section ("" for top-level keys).
type oldConfig map[string]map[string]any

func parseOld(data []byte) (oldConfig, error) {
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	c := oldConfig{"": {}}
	for k, v := range raw {
		if sec, ok := v.(map[string]any); ok {
			m := map[string]any{}
			for sk, sv := range sec {
				m[strings.ToLower(sk)] = sv
			}
			c[strings.ToLower(k)] = m
			continue
		}
		c[""][strings.ToLower(k)] = v
	}
	return c, nil
}

// get returns a key's value as text, and whether it is set; taking it marks it handled.
func (c oldConfig) get(section, key string) (string, bool) {
	v, ok := c[section][key]
	if !ok {
		return "", false
	}
	delete(c[section], key)
	switch x := v.(type) {
	case string:
		return x, true
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ","), true
	}
	return fmt.Sprint(v), true
}

// c peeks at a key without taking it.
func (c oldConfig) c(section, key string) (any, bool) {
	v, ok := c[section][key]
	return v, ok
}

func (c oldConfig) on(section, key string) bool {
	v, _ := c.get(section, key)
	return v == "true"
}

// translation collects the new keys by section and the notes on what has no equivalent.
type translation struct {
	keys  map[string][]string // section -> "key = value  # note" lines
	notes []string
}

func (t *translation) set(section, key string, value any, note string) {
	line := key + " = " + tomlValue(value)
	if note != "" {
		line += "  # " + note
	}
	t.keys[section] = append(t.keys[section], line)
}

func (t *translation) note(format string, a ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, a...))
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// translateConfig is configImport's work: the new configuration as TOML text, checked to load.
func translateConfig(from string, data []byte) (string, error) {
	old, err := parseOld(data)
	if err != nil {
		return "", err
	}
	t := &translation{keys: map[string][]string{}}
	if from == "prosody-filer" {
		prosodyFiler(old, t)
	} else {
		hmacFileServer(old, t)
	}
	for _, section := range sortedKeys(old) {
		for _, k := range sortedKeys(old[section]) {
			name := k
			if section != "" {
				name = section + "." + k
			}
			t.note("%s: no equivalent in fileserver", name)
		}
	}
	text := render(from, t)
	if err := checkTranslation(text); err != nil {
		return "", fmt.Errorf("the translation does not load (%w); please report it:\n%s", err, text)
	}
	return text, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func render(from string, t *translation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# fileserver configuration translated from a %s configuration by\n# `fileserver config import`. Read it through, then see docs/migrating.md.\n", from)
	for _, section := range []string{"server", "storage", "auth", "upload", "scan", "metrics", "log"} {
		if len(t.keys[section]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n%s\n", section, strings.Join(t.keys[section], "\n"))
	}
	if len(t.notes) > 0 {
		b.WriteString("\n# Not carried over as it is, and why:\n")
		for _, n := range t.notes {
			fmt.Fprintf(&b, "#   %s\n", n)
		}
	}
	return b.String()
}

// checkTranslation loads and validates the text as fileserver would.
func checkTranslation(text string) error {
	f, err := os.CreateTemp("", "fileserver-config-import-*.toml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	f.WriteString(text)
	f.Close()
	cfg, err := config.Load(f.Name(), nil)
	if err != nil {
		return err
	}
	return cfg.Validate()
}

func prosodyFiler(old oldConfig, t *translation) {
	if v, ok := old.get("", "listenport"); ok {
		if old.on("", "unixsocket") {
			t.note("listenport %q on a unix socket: fileserver listens on TCP only; put it behind the proxy on a loopback port", v)
		} else {
			t.set("server", "listen", listenAddr(v), "")
		}
	}
	old.get("", "unixsocket")
	secretKey(old, "", "secret", t)
	if v, ok := old.get("", "storedir"); ok {
		t.set("storage", "path", "/var/lib/fileserver", "fileserver's own directory, on the filesystem of the old tree")
		t.note("storeDir %q: the old tree: fileserver import --from prosody-filer --source %s", v, v)
	}
	if v, ok := old.get("", "uploadsubdir"); ok && strings.Trim(v, "/") != "" {
		t.set("upload", "prefix", "/"+strings.Trim(v, "/")+"/", "the URLs the old server served")
	}
	if v, ok := old.get("", "loglevel"); ok {
		t.set("log", "level", logLevel(v), "")
	}
}

func hmacFileServer(old oldConfig, t *translation) {
	port, _ := old.get("server", "listen_address")
	bind, _ := old.get("server", "bind_ip")
	if port != "" {
		if !strings.Contains(port, ":") {
			port = bindOr(bind) + ":" + port
		}
		t.set("server", "listen", listenAddr(port), "")
	}
	secretKey(old, "security", "secret", t)
	if v, ok := old.get("server", "storage_path"); ok {
		t.set("storage", "path", "/var/lib/fileserver", "fileserver's own directory, on the filesystem of the old tree")
		t.note("server.storage_path %q: the old tree: fileserver import --from hmac-file-server --source %s/<the URL prefix's directory>", v, strings.TrimRight(v, "/"))
	}
	if old.on("server", "deduplication_enabled") {
		t.set("storage", "dedup", true, "hard links, as before; the deduplication directory is not needed")
	}
	hfsSizes(old, t)
	hfsTTL(old, t)
	if v, ok := old.get("uploads", "allowed_extensions"); ok && v != "" {
		t.set("upload", "allowed_extensions", strings.Split(v, ","), "")
	}
	if old.on("clamav", "clamavenabled") {
		sock, _ := old.get("clamav", "clamavsocket")
		if sock == "" {
			sock = "/run/clamav/clamd.ctl"
		}
		t.set("scan", "clamd", "unix:"+sock, "")
		if v, ok := old.get("clamav", "maxscansize"); ok {
			if sz, err := hfsSize(v); err == nil {
				t.set("scan", "max_size", sz, "")
			}
		}
	}
	if old.on("server", "metricsenabled") {
		port, _ := old.get("server", "metricsport")
		t.set("metrics", "enabled", true, "")
		if port != "" {
			t.set("metrics", "listen", bindOr(bind)+":"+port, "as before, on every interface unless bind_ip said otherwise")
		}
	} else if _, ok := old["server"]["metricsenabled"]; ok {
		old.get("server", "metricsport")
		t.set("metrics", "enabled", false, "")
	}
	if v, ok := old.get("logging", "level"); ok {
		t.set("log", "level", logLevel(v), "")
	}
	hfsNoEquivalents(old, t)
}

func hfsSizes(old oldConfig, t *translation) {
	if _, set := old.c("server", "max_upload_size"); !set {
		t.set("upload", "max_size", "10GiB", "hmac-file-server's default (no max_upload_size there); fileserver's own is 1GiB")
	}
	for _, k := range []struct{ key, section, to string }{{"max_upload_size", "upload", "max_size"}, {"min_free_bytes", "storage", "min_free"}} {
		v, ok := old.get("server", k.key)
		if !ok || v == "" {
			continue
		}
		if sz, err := hfsSize(v); err == nil {
			t.set(k.section, k.to, sz, v+" there, in units of 1024")
		} else {
			t.note("server.%s %q: not a size hmac-file-server reads either", k.key, v)
		}
	}
}

func hfsTTL(old oldConfig, t *translation) {
	ttl, _ := old.get("server", "filettl")
	age, _ := old.get("server", "max_file_age")
	enabled := old.on("server", "filettlenabled")
	interval, _ := old.get("server", "cleanup_interval")
	if !enabled {
		return
	}
	if ttl == "" {
		ttl = age
	}
	if ttl == "" {
		ttl = "720h"
	}
	if d, err := hfsDuration(ttl); err == nil {
		t.set("upload", "ttl", durationText(d), "by upload time, as hmac-file-server's by file time")
	}
	if d, err := hfsDuration(interval); err == nil && interval != "" {
		t.set("upload", "reap_interval", durationText(d), "")
	}
}

func hfsNoEquivalents(old oldConfig, t *translation) {
	why := map[string]string{
		"server.file_naming":    "fileserver keeps names as uploaded; a tree of HMAC names imports as such, their old URLs working",
		"security.enablejwt":    "no JWT: XMPP servers mint v, v2 and token signatures, which fileserver checks",
		"security.jwtsecret":    "no JWT (see security.enablejwt)",
		"quotas.enabled":        "per-JID quotas applied only to hmac-file-server's own POST API; limits.daily_quota is per uploader and day",
		"redis.redisenabled":    "Redis is for several nodes' sessions (sessions.store = \"redis\"), not a cache",
		"iso.enabled":           "no loop-mounted image: point storage.path at the filesystem you want",
		"logging.file":          "fileserver logs to stderr (the journal under systemd)",
		"deduplication.enabled": "storage.dedup needs no directory of its own",
	}
	for _, k := range sortedKeys(why) {
		section, key, _ := strings.Cut(k, ".")
		if v, ok := old.get(section, key); ok {
			t.note("%s = %s: %s", k, v, why[k])
		}
	}
}

func secretKey(old oldConfig, section, key string, t *translation) {
	v, ok := old.get(section, key)
	switch {
	case !ok:
	case v == "":
		t.note("%s is empty: give the XMPP server and fileserver a new one (openssl rand -hex 32)", key)
	case len(v) < config.MinSecretLength:
		t.set("auth", "secret", v, "the XMPP server signs with it; or FILESERVER_AUTH_SECRET_FILE")
		t.set("auth", "allow_short_secret", true, "it is shorter than fileserver asks: move to a longer one with auth.previous_secrets")
	default:
		t.set("auth", "secret", v, "the XMPP server signs with it; or FILESERVER_AUTH_SECRET_FILE")
	}
}

// listenAddr is a listen address as fileserver takes it: the same ("[::]:5050", and ":5050",
// every interface, IPv4 and IPv6, as before).
func listenAddr(v string) string { return v }

// bindOr is the host part of a listen address from hmac-file-server's bind_ip ("" is every
// interface).
func bindOr(bind string) string { return bind }

func logLevel(v string) string {
	switch l := strings.ToLower(v); l {
	case "debug", "info", "warn", "error":
		return l
	case "warning":
		return "warn"
	}
	return "info"
}

// hfsSize reads hmac-file-server's sizes: an integer and KB, MB or GB, in units of 1024.
func hfsSize(v string) (string, error) {
	v = strings.ToUpper(strings.TrimSpace(v))
	for _, u := range []struct{ suffix, ours string }{{"KB", "KiB"}, {"MB", "MiB"}, {"GB", "GiB"}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			if _, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64); err == nil {
				return strings.TrimSpace(n) + u.ours, nil
			}
		}
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v, nil
	}
	return "", fmt.Errorf("size %q", v)
}

// hfsDuration reads hmac-file-server's durations: an integer and s, m, h, d, w or y.
func hfsDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if len(v) < 2 {
		return 0, fmt.Errorf("duration %q", v)
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("duration %q", v)
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}[v[len(v)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("duration %q", v)
	}
	return time.Duration(n) * unit, nil
}

// durationText writes a duration as fileserver reads it: whole days as days, else in the
// largest unit that divides it.
func durationText(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d > 0 && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String()
}
