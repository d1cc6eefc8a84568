package config

import (
	"errors"
	"strings"
	"testing"
)

// Download cache settings that make no sense stop start-up with a message naming the key;
// 0 turns each cache off.
func TestValidateDownload(t *testing.T) {
	cases := []struct {
		set    map[string]string
		key    string
		reason string
	}{
		{map[string]string{"download.small_file_max": "32MiB"}, "download.small_file_max", "16MiB"},
		{map[string]string{"download.small_file_cache": "1MiB", "download.small_file_max": "2MiB"}, "download.small_file_max", "small_file_cache"},
		{map[string]string{"download.open_files": "-1"}, "download.open_files", "between"},
		{map[string]string{"download.revalidate": "0s"}, "download.revalidate", "positive"},
		{map[string]string{"download.revalidate": "5m"}, "download.revalidate", "1m"},
	}
	for _, tc := range cases {
		c := Default()
		for k, v := range tc.set {
			if err := c.Set(k, v); err != nil {
				t.Fatalf("Set(%s=%s): %v", k, v, err)
			}
		}
		err := c.Validate()
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Reason, tc.reason) {
			t.Errorf("%v: err %v, want %s: ...%s...", tc.set, err, tc.key, tc.reason)
		}
	}
	for _, off := range []map[string]string{
		{"download.small_file_cache": "0"},
		{"download.small_file_max": "0"},
		{"download.open_files": "0"},
	} {
		c := Default()
		for k, v := range off {
			c.Set(k, v)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%v: %v", off, err)
		}
	}
}
