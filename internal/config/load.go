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

// Load builds the configuration: embedded defaults, then the TOML file at path (if path is not
// empty), then FILESERVER_* variables from environ (as os.Environ returns them). Flags are
// applied by the caller with Set, then Validate.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
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
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if file, ok := env[EnvPrefix+"AUTH_SECRET_FILE"]; ok {
		data, err := os.ReadFile(file)
		if err != nil {
			return &Error{File: "environment", Key: "auth.secret", Reason: EnvPrefix + "AUTH_SECRET_FILE: " + err.Error()}
		}
		cfg.Auth.Secret = strings.TrimSpace(string(data))
	}
	for _, f := range fields(cfg) {
		name := EnvName(f.key)
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
