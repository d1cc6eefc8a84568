package handlers

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Tables and fuzz targets for the resumable protocols' header parsers.

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in      string
		n       int64
		present bool
		ok      bool
	}{
		{"", 0, false, true},
		{"0", 0, true, true},
		{"42", 42, true, true},
		{"007", 7, true, true},
		{"9223372036854775807", 1<<63 - 1, true, true},
		{"9223372036854775808", 0, true, false},
		{"-1", 0, true, false},
		{"+1", 0, true, false},
		{" 1", 0, true, false},
		{"1.5", 0, true, false},
		{"0x10", 0, true, false},
		{"١", 0, true, false}, // a non-ASCII digit
	}
	for _, tt := range tests {
		n, present, err := parseOffset("Upload-Offset", tt.in)
		if n != tt.n || present != tt.present || (err == nil) != tt.ok {
			t.Errorf("parseOffset(%q) = %d, %v, %v; want %d, %v, ok=%v", tt.in, n, present, err, tt.n, tt.present, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Upload-Offset") {
			t.Errorf("parseOffset(%q) error %q does not name the header", tt.in, err)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	e := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"   ", map[string]string{}},
		{"filename " + e("world_domination_plan.pdf"), map[string]string{"filename": "world_domination_plan.pdf"}},
		{"filename " + e("a.png") + ",is_confidential", map[string]string{"filename": "a.png", "is_confidential": ""}},
		{"a " + e("1") + ", b " + e("2"), map[string]string{"a": "1", "b": "2"}},
		{"k " + e("ü ,x"), map[string]string{"k": "ü ,x"}},
		{"k ", map[string]string{"k": ""}},
		{"a " + e("1") + ",a " + e("2"), nil},        // duplicate key
		{"a " + e("1") + ",", nil},                   // empty pair
		{",a " + e("1"), nil},                        // empty pair
		{"a " + e("1") + ",,b", nil},                 // empty pair
		{"a not-base64!", nil},                       // bad value
		{"a " + e("1") + " " + e("2"), nil},          // two values
		{"a " + strings.TrimRight(e("x"), "="), nil}, // unpadded
	}
	for _, tt := range tests {
		got, err := parseMetadata(tt.in)
		if tt.want == nil {
			if err == nil {
				t.Errorf("parseMetadata(%q) = %v, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), "Upload-Metadata") {
				t.Errorf("parseMetadata(%q) error %q does not name the header", tt.in, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("parseMetadata(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseChecksum(t *testing.T) {
	e := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		in   string
		size int // 0: an error
	}{
		{"sha1 " + e(20), 20},
		{"sha256 " + e(32), 32},
		{"md5 " + e(16), 16},
		{"crc32 " + e(4), 4},
		{"  sha1 " + e(20) + "  ", 20},
		{"sha1 " + e(32), 0},     // wrong size
		{"sha256 " + e(20), 0},   // wrong size
		{"sha512 " + e(64), 0},   // unsupported
		{"SHA1 " + e(20), 0},     // names are lowercase
		{"sha1", 0},              // no digest
		{"sha1 not base64!!", 0}, // bad digest
		{"", 0},
		{e(20), 0},
	}
	for _, tt := range tests {
		h, want, err := parseChecksum(tt.in)
		if tt.size == 0 {
			if err == nil {
				t.Errorf("parseChecksum(%q): no error", tt.in)
			} else if !strings.Contains(err.Error(), "Upload-Checksum") {
				t.Errorf("parseChecksum(%q) error %q does not name the header", tt.in, err)
			}
			continue
		}
		if err != nil || h == nil || h.Size() != tt.size || len(want) != tt.size {
			t.Errorf("parseChecksum(%q) = %v, %d bytes, %v; want a %d-byte digest", tt.in, h, len(want), err, tt.size)
		}
	}
}

func TestParseConcat(t *testing.T) {
	tests := []struct {
		in      string
		partial bool
		parts   []string
		ok      bool
	}{
		{"partial", true, nil, true},
		{" partial ", true, nil, true},
		{"final;/files/a /files/b", false, []string{"a", "b"}, true},
		{"final; /files/a  /files/b ", false, []string{"a", "b"}, true},
		{"final;https://example.org/files/a http://h:8080/files/b", false, []string{"a", "b"}, true},
		{"final;/files/a", false, []string{"a"}, true},
		{"final;", false, nil, false},
		{"final;   ", false, nil, false},
		{"final;/upload/a", false, nil, false},
		{"final;/files/", false, nil, false},
		{"final;/files/a/b", false, nil, false},
		{"final;https://example.org", false, nil, false},
		{"final;a", false, nil, false},
		{"final /files/a", false, nil, false},
		{"Partial", false, nil, false},
		{"", false, nil, false},
	}
	for _, tt := range tests {
		partial, parts, err := parseConcat(tt.in, "/files/")
		if (err == nil) != tt.ok || partial != tt.partial || !slices.Equal(parts, tt.parts) {
			t.Errorf("parseConcat(%q) = %v, %q, %v; want %v, %q, ok=%v", tt.in, partial, parts, err, tt.partial, tt.parts, tt.ok)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in      string
		want    contentRange
		present bool
		ok      bool
	}{
		{"", contentRange{}, false, true},
		{"bytes 0-4/10", contentRange{first: 0, last: 4, total: 10}, true, true},
		{"bytes 5-9/10", contentRange{first: 5, last: 9, total: 10}, true, true},
		{"bytes 0-0/1", contentRange{first: 0, last: 0, total: 1}, true, true},
		{" bytes 0-4/10 ", contentRange{first: 0, last: 4, total: 10}, true, true},
		{"bytes */10", contentRange{total: 10, empty: true}, true, true},
		{"bytes */0", contentRange{total: 0, empty: true}, true, true},
		{"bytes 0-9223372036854775806/9223372036854775807", contentRange{last: 1<<63 - 2, total: 1<<63 - 1}, true, true},
		{"bytes 0-4/*", contentRange{}, true, false},
		{"bytes 0-10/10", contentRange{}, true, false},
		{"bytes 5-4/10", contentRange{}, true, false},
		{"bytes 0-0/0", contentRange{}, true, false},
		{"bytes -4/10", contentRange{}, true, false},
		{"bytes 0-/10", contentRange{}, true, false},
		{"bytes 0-4", contentRange{}, true, false},
		{"bytes -1-4/10", contentRange{}, true, false},
		{"bytes 0 - 4/10", contentRange{}, true, false},
		{"bytes=0-4/10", contentRange{}, true, false},
		{"items 0-4/10", contentRange{}, true, false},
		{"bytes 0-4/10/12", contentRange{}, true, false},
		{"bytes 0-4/99999999999999999999", contentRange{}, true, false},
	}
	for _, tt := range tests {
		cr, present, err := parseContentRange(tt.in)
		if present != tt.present || (err == nil) != tt.ok || tt.ok && cr != tt.want {
			t.Errorf("parseContentRange(%q) = %+v, %v, %v; want %+v, %v, ok=%v", tt.in, cr, present, err, tt.want, tt.present, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Content-Range") {
			t.Errorf("parseContentRange(%q) error %q does not name the header", tt.in, err)
		}
	}
}

func TestStructuredFields(t *testing.T) {
	bools := []struct {
		in    string
		b, ok bool
	}{
		{"?1", true, true},
		{"?0", false, true},
		{" ?1 ", true, true},
		{"?1;a=b", true, true},
		{"?0;x", false, true},
		{"", false, false},
		{"1", false, false},
		{"true", false, false},
		{"?2", false, false},
		{"?", false, false},
		{"?11", false, false},
		{"?1, ?0", false, false},
	}
	for _, tt := range bools {
		if b, ok := sfBool(tt.in); b != tt.b || ok != tt.ok {
			t.Errorf("sfBool(%q) = %v, %v; want %v, %v", tt.in, b, ok, tt.b, tt.ok)
		}
	}
	ints := []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true},
		{"12345", 12345, true},
		{" 7 ", 7, true},
		{"7;p=1", 7, true},
		{"999999999999999", 999999999999999, true},
		{"1000000000000000", 0, false}, // 16 digits
		{"", 0, false},
		{"-1", 0, false},
		{"1.0", 0, false},
		{"?1", 0, false},
		{"1,2", 0, false},
		{"abc", 0, false},
	}
	for _, tt := range ints {
		if n, ok := sfInt(tt.in); n != tt.n || ok != tt.ok {
			t.Errorf("sfInt(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
}

// visibleKey reports whether a metadata key can be sent as written: visible ASCII without
// space or comma (what tus asks of keys and what an HTTP field value can carry).
func visibleKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f || k[i] == ',' {
			return false
		}
	}
	return k != ""
}

// encodeMetadata renders m as Upload-Metadata, keys sorted.
func encodeMetadata(m map[string]string) string {
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] == "" {
			pairs = append(pairs, k)
		} else {
			pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(m[k])))
		}
	}
	return strings.Join(pairs, ",")
}

func FuzzParseMetadata(f *testing.F) {
	f.Add("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential", "k", []byte("v"))
	f.Add("a MQ==, b Mg==", "filetype", []byte("image/png"))
	f.Add("a MQ==,a Mg==", "x", []byte{})
	f.Add(",", "name", []byte{0, 1, 2, 0xff})
	f.Fuzz(func(t *testing.T, header, key string, value []byte) {
		m, err := parseMetadata(header)
		if err == nil {
			for k := range m {
				if k == "" || strings.ContainsAny(k, " \t,") {
					t.Fatalf("parseMetadata(%q) accepted the key %q", header, k)
				}
			}
			// What was parsed encodes back to the same metadata.
			if allVisible(m) {
				again, err := parseMetadata(encodeMetadata(m))
				if err != nil || !maps.Equal(again, m) {
					t.Fatalf("parseMetadata(%q) = %q, which re-encodes to %q = %q, %v", header, m, encodeMetadata(m), again, err)
				}
			}
		}
		// Any value survives base64 under a sendable key.
		if visibleKey(key) {
			in := map[string]string{key: string(value), "other": "x"}
			if key == "other" {
				delete(in, "other")
			}
			got, err := parseMetadata(encodeMetadata(in))
			if err != nil || !maps.Equal(got, in) {
				t.Fatalf("round trip of %q: %q, %v", in, got, err)
			}
		}
	})
}

func allVisible(m map[string]string) bool {
	for k := range m {
		if !visibleKey(k) {
			return false
		}
	}
	return true
}

func FuzzParseChecksum(f *testing.F) {
	f.Add("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
	f.Add("sha256 " + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("crc32 AAAAAA==")
	f.Add("md5  ")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		h, want, err := parseChecksum(v)
		if err != nil {
			if h != nil || want != nil {
				t.Fatalf("parseChecksum(%q) returned a hash with its error", v)
			}
			return
		}
		algo, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !slices.Contains(checksumAlgorithms, algo) {
			t.Fatalf("parseChecksum(%q) accepted the algorithm %q", v, algo)
		}
		if h == nil || len(want) != h.Size() {
			t.Fatalf("parseChecksum(%q): digest of %d bytes for a %d-byte hash", v, len(want), h.Size())
		}
	})
}

func FuzzParseConcat(f *testing.F) {
	f.Add("partial", "/files/")
	f.Add("final;/files/a /files/b", "/files/")
	f.Add("final;https://example.org/files/a http://x/files/b", "/files/")
	f.Add("final;", "/resumable/")
	f.Fuzz(func(t *testing.T, v, prefix string) {
		partial, parts, err := parseConcat(v, prefix)
		if err != nil {
			if partial || parts != nil {
				t.Fatalf("parseConcat(%q) returned a result with its error", v)
			}
			return
		}
		if partial == (len(parts) > 0) {
			t.Fatalf("parseConcat(%q) = partial %v with %d parts", v, partial, len(parts))
		}
		for _, p := range parts {
			if p == "" || strings.Contains(p, "/") || strings.ContainsAny(p, " \t\r\n") {
				t.Fatalf("parseConcat(%q) gave the upload id %q", v, p)
			}
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-4/10", "bytes */10", "bytes 5-9/10", "bytes 0-0/0", "bytes -/", "bytes 1-2/*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		cr, present, err := parseContentRange(v)
		if !present {
			if v != "" || err != nil {
				t.Fatalf("parseContentRange(%q): absent, %v", v, err)
			}
			return
		}
		if err != nil {
			return
		}
		if cr.total < 0 {
			t.Fatalf("parseContentRange(%q): total %d", v, cr.total)
		}
		if cr.empty {
			if cr.first != 0 || cr.last != 0 {
				t.Fatalf("parseContentRange(%q): empty range with %d-%d", v, cr.first, cr.last)
			}
			return
		}
		if !(0 <= cr.first && cr.first <= cr.last && cr.last < cr.total) {
			t.Fatalf("parseContentRange(%q) = %+v: want 0 <= first <= last < total", v, cr)
		}
		// The piece length cannot overflow.
		if n := cr.last - cr.first + 1; n <= 0 {
			t.Fatalf("parseContentRange(%q): piece length %d", v, n)
		}
		again, _, err := parseContentRange(fmt.Sprintf("bytes %d-%d/%d", cr.first, cr.last, cr.total))
		if err != nil || again != cr {
			t.Fatalf("parseContentRange(%q) = %+v, which does not round-trip (%+v, %v)", v, cr, again, err)
		}
	})
}

func FuzzStructuredFields(f *testing.F) {
	for _, s := range []string{"?1", "?0", "?1;a=b", "12", "999999999999999", "1000000000000000", " 3 ", "-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if b, ok := sfBool(v); ok {
			item, _, _ := strings.Cut(strings.TrimSpace(v), ";")
			if want := map[bool]string{true: "?1", false: "?0"}[b]; strings.TrimSpace(item) != want {
				t.Fatalf("sfBool(%q) = %v from %q", v, b, item)
			}
		} else if b {
			t.Fatalf("sfBool(%q): true but not ok", v)
		}
		n, ok := sfInt(v)
		if !ok {
			if n != 0 {
				t.Fatalf("sfInt(%q) = %d but not ok", v, n)
			}
			return
		}
		if n < 0 || n > 999_999_999_999_999 {
			t.Fatalf("sfInt(%q) = %d: out of the Structured Field Integer range", v, n)
		}
		item, _, _ := strings.Cut(strings.TrimSpace(v), ";")
		if m, err := strconv.ParseInt(strings.TrimSpace(item), 10, 64); err != nil || m != n {
			t.Fatalf("sfInt(%q) = %d, the item reads %d (%v)", v, n, m, err)
		}
	})
}
