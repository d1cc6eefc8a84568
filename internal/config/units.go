package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count written as a plain integer or with a unit: "1GiB", "500MB", "1.5GB",
// "64k". Decimal units (kB, MB, GB, TB) are powers of 1000, binary ones (KiB, MiB, GiB, TiB)
// powers of 1024; a single letter (K, M, G, T) is binary, as most admins mean it.
type Size int64

// Byte multiples, for defaults and tests.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1e12, "tib": 1 << 40,
}

// ParseSize parses a size as Size's doc describes.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q does not start with a number", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q has unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, t[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: bad number", s)
	}
	v := f * mult
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(math.Round(v)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler, using the largest exact binary unit.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String renders the size with the largest binary unit that divides it exactly.
func (s Size) String() string {
	for _, u := range []struct {
		n    string
		size Size
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.n
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Duration is a time span written as Go durations ("90s", "1h30m") extended with days ("7d",
// "1d12h"). "0" means zero.
type Duration time.Duration

// durationForms says what a duration may look like, for errors.
const durationForms = "write a number and a unit, no space: 30d (days), 720h, 15m, 90s, 1d12h, 1h30m, or 0"

// ParseDuration parses a duration as Duration's doc describes.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration: " + durationForms)
	}
	if t == "0" {
		return 0, nil
	}
	var days float64
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.ParseFloat(t[:i], 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: %s", s, durationForms)
		}
		days, t = n, t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %s", s, durationForms)
		}
		rest = d
	}
	if rest < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	// time.Duration holds about 292 years; anything near that is a typo, not a setting.
	const maxDays = 100 * 365
	total := time.Duration(days*24*float64(time.Hour)) + rest
	if days > maxDays || total < rest || total > maxDays*24*time.Hour {
		return 0, fmt.Errorf("duration %q is too long (at most 100 years)", s)
	}
	return total, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String renders the duration in Go's notation ("0s" for zero).
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
