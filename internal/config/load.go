package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// EnvPrefix starts every environment variable the config reads.
const EnvPrefix = "FILESERVER_"

// DefaultEnvPrefix starts the environment variables that set a key's default: below the
// config file, which overrides them (FILESERVER_DEFAULT_STORAGE_PATH=/data). Packaging (the
// container image, the systemd unit) uses them, so that it never shadows the admin's file.
const DefaultEnvPrefix = EnvPrefix + "DEFAULT_"

// otherEnv are the FILESERVER_ variables that are not a key of their own; variables of
// the FILESERVER_TEST_ and FILESERVER_E2E_ families belong to the test suites.
var otherEnv = map[string]bool{
	EnvPrefix + "CONFIG":           true, // the config file, where no --config flag names one
	EnvPrefix + "AUTH_SECRET_FILE": true, // the secret, read from a file
	EnvPrefix + "ADMIN_TOKEN":      true, // admin tokens added to admin.tokens
	EnvPrefix + "ADMIN_TOKEN_FILE": true, // admin tokens, one per line of a file
	EnvPrefix + "CRASHPOINT":       true, // a test's stop (internal/crashpoint)
}

// Error is a configuration problem: where it is and why. Start-up stops on it.
type Error struct {
	File   string // config file, or "environment", or "flag"
	Line   int    // 1-based line in File, 0 when unknown
	Key    string // dotted key, e.g. "server.listen"
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
	}
	if e.Key != "" {
		b.WriteString(": key " + e.Key)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// Load builds the configuration: embedded defaults, then FILESERVER_DEFAULT_* variables from
// environ (as os.Environ returns them), then the TOML file at path (if path is not empty),
// then FILESERVER_* variables. Flags are applied by the caller with Set, then Validate. A
// FILESERVER_ variable that names no key stops it, with the closest known name.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if err := checkEnv(environ); err != nil {
		return cfg, err
	}
	if err := applyEnvWith(&cfg, environ, DefaultEnvPrefix); err != nil {
		return cfg, err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, &Error{File: path, Reason: err.Error()}
		}
		if err := decodeTOML(&cfg, path, data); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func decodeTOML(cfg *Config, path string, data []byte) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(cfg)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		de := strict.Errors[0]
		row, _ := de.Position()
		return &Error{File: path, Line: row, Key: strings.Join(de.Key(), "."), Reason: "unknown key"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &Error{File: path, Line: row, Key: strings.Join(de.Key(), "."), Reason: strings.TrimPrefix(de.Error(), "toml: ")}
	}
	return &Error{File: path, Reason: err.Error()}
}

// field is one settable leaf of Config.
type field struct {
	key string // dotted, e.g. "upload.max_size"
	v   reflect.Value
}

// fields lists every leaf of cfg by dotted key, in declaration order.
func fields(cfg *Config) []field {
	var out []field
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := t.Field(i).Tag.Get("toml")
			if name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct {
				walk(key, fv)
				continue
			}
			out = append(out, field{key: key, v: fv})
		}
	}
	walk("", reflect.ValueOf(cfg).Elem())
	return out
}

// Keys returns every dotted key the configuration knows, sorted.
func Keys() []string {
	var cfg Config
	var keys []string
	for _, f := range fields(&cfg) {
		keys = append(keys, f.key)
	}
	sort.Strings(keys)
	return keys
}

// EnvName is the environment variable that sets a dotted key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Set assigns a value given as text to a dotted key, as env variables and flags do. Lists are
// comma-separated.
func (c *Config) Set(key, value string) error {
	for _, f := range fields(c) {
		if f.key == key {
			if err := setText(f.v, value); err != nil {
				return &Error{Key: key, Reason: err.Error()}
			}
			return nil
		}
	}
	return &Error{Key: key, Reason: "unknown key"}
}

func applyEnv(cfg *Config, environ []string) error {
	env := envMap(environ)
	if file, ok := env[EnvPrefix+"AUTH_SECRET_FILE"]; ok {
		data, err := os.ReadFile(file)
		if err != nil {
			return &Error{File: "environment", Key: "auth.secret", Reason: EnvPrefix + "AUTH_SECRET_FILE: " + err.Error()}
		}
		if cfg.Auth.Secret = strings.TrimSpace(string(data)); cfg.Auth.Secret == "" {
			return &Error{File: "environment", Key: "auth.secret", Reason: EnvPrefix + "AUTH_SECRET_FILE: " + file + " is empty"}
		}
	}
	if err := applyEnvWith(cfg, environ, EnvPrefix); err != nil {
		return err
	}
	return adminTokensFromEnv(cfg, env)
}

// adminTokensFromEnv adds the tokens of FILESERVER_ADMIN_TOKEN (comma-separated) and of the
// file FILESERVER_ADMIN_TOKEN_FILE names (one per line) to admin.tokens.
func adminTokensFromEnv(cfg *Config, env map[string]string) error {
	if v, ok := env[EnvPrefix+"ADMIN_TOKEN"]; ok {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				cfg.Admin.Tokens = append(cfg.Admin.Tokens, t)
			}
		}
	}
	file, ok := env[EnvPrefix+"ADMIN_TOKEN_FILE"]
	if !ok {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return &Error{File: "environment", Key: "admin.tokens", Reason: EnvPrefix + "ADMIN_TOKEN_FILE: " + err.Error()}
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cfg.Admin.Tokens = append(cfg.Admin.Tokens, line)
		}
	}
	return nil
}

// applyEnvWith sets every key whose variable, prefix + KEY, environ holds.
func applyEnvWith(cfg *Config, environ []string, prefix string) error {
	env := envMap(environ)
	for _, f := range fields(cfg) {
		name := prefix + strings.TrimPrefix(EnvName(f.key), EnvPrefix)
		v, ok := env[name]
		if !ok {
			continue
		}
		if err := setText(f.v, v); err != nil {
			return &Error{File: "environment", Key: f.key, Reason: name + ": " + err.Error()}
		}
	}
	return nil
}

func envMap(environ []string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	return env
}

// checkEnv refuses a FILESERVER_ variable that names no key (a typo would otherwise be
// silently ignored), naming the closest variable that does.
func checkEnv(environ []string) error {
	known := map[string]bool{}
	for _, k := range Keys() {
		known[EnvName(k)] = true
		known[DefaultEnvPrefix+strings.TrimPrefix(EnvName(k), EnvPrefix)] = true
	}
	for name := range otherEnv {
		known[name] = true
	}
	var unknown []string
	for name := range envMap(environ) {
		if !known[name] && !strings.HasPrefix(name, EnvPrefix+"TEST_") && !strings.HasPrefix(name, EnvPrefix+"E2E_") {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	name := unknown[0]
	return &Error{File: "environment", Key: name, Reason: "unknown variable; did you mean " + closest(name, known) + "?"}
}

// closest is the name in names nearest to s by edit distance.
func closest(s string, names map[string]bool) string {
	best, bestD := "", -1
	for n := range names {
		if d := editDistance(s, n); bestD < 0 || d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func setText(v reflect.Value, s string) error {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		var items []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot set a %s from text", v.Kind())
	}
	return nil
}
