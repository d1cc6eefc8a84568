package hmacauth

import (
	"errors"
	"testing"
)

func TestFilePath(t *testing.T) {
	for _, tc := range []struct {
		escaped, prefix string
		want            string
		wantErr         bool
	}{
		{"/upload/slot/%c3%a4.jpg", "/upload/", "slot/ä.jpg", false},
		{"/upload/slot/%C3%A4.jpg", "/upload/", "slot/ä.jpg", false},
		{"/upload/slot/%C3%a4.jpg", "/upload/", "slot/ä.jpg", false},
		{"/upload/slot/a+b.txt", "/upload/", "slot/a+b.txt", false},
		{"/upload/slot/a%2Bb.txt", "/upload/", "slot/a+b.txt", false},
		{"/upload/slot/a%2bb.txt", "/upload/", "slot/a+b.txt", false},
		{"/upload/slot/a%20b.txt", "/upload/", "slot/a b.txt", false},
		{"/upload/slot/100%25.txt", "/upload/", "slot/100%.txt", false},
		{"/upload/slot/%2541", "/upload/", "slot/%41", false}, // decoded once only
		{"/upload/u/r/a/b/c/d.bin", "/upload/", "u/r/a/b/c/d.bin", false},
		{"/upload/a%2Fb", "/upload/", "a/b", false}, // storage safety is the caller's job
		{"/upload/", "/upload/", "", false},
		{"/files/x", "/files/", "x", false},
		{"/x", "", "/x", false},
		{"/upload/slot/%", "/upload/", "", true},
		{"/upload/slot/%4", "/upload/", "", true},
		{"/upload/slot/%zz", "/upload/", "", true},
		{"/upload/slot/%g1", "/upload/", "", true},
		{"/upload/slot/%1g", "/upload/", "", true},
		{"/upload/slot/a%", "/upload/", "", true},
		{"/download/slot/a", "/upload/", "", true},
		{"/upload", "/upload/", "", true},
		{"/UPLOAD/slot/a", "/upload/", "", true},
		{"", "/upload/", "", true},
	} {
		got, err := FilePath(tc.escaped, tc.prefix)
		if tc.wantErr {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("FilePath(%q, %q) = %q, %v; want ErrBadPath", tc.escaped, tc.prefix, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("FilePath(%q, %q) = %q, %v; want %q", tc.escaped, tc.prefix, got, err, tc.want)
		}
	}
}
