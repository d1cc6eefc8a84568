package config

import "testing"

// Download cache settings that make no sense stop start-up with a message naming the key;
// 0 turns each cache off.
func TestValidateDownload(t *testing.T) {
	checkRefused(t, []validateCase{
		{map[string]string{"download.small_file_max": "32MiB"}, "download.small_file_max", "16MiB"},
		{map[string]string{"download.small_file_cache": "1MiB", "download.small_file_max": "2MiB"}, "download.small_file_max", "small_file_cache"},
		{map[string]string{"download.open_files": "-1"}, "download.open_files", "between"},
		{map[string]string{"download.revalidate": "0s"}, "download.revalidate", "positive"},
		{map[string]string{"download.revalidate": "5m"}, "download.revalidate", "1m"},
	})
	checkAccepted(t, []map[string]string{
		{"download.small_file_cache": "0"},
		{"download.small_file_max": "0"},
		{"download.open_files": "0"},
	})
}
