package redisstore

import (
	"testing"

	"fileserver/internal/ops/opstest"
	"fileserver/internal/testpeers"
)

// Two nodes share takedowns and download counts.
func TestTakedownsSharedByNodes(t *testing.T) {
	url := testpeers.Redis(t)
	opstest.TakedownBook(t, openStore(t, url, Options{}), openStore(t, url, Options{}))
}

func TestDownloadCountsSharedByNodes(t *testing.T) {
	url := testpeers.Redis(t)
	opstest.CountBook(t, openStore(t, url, Options{}), openStore(t, url, Options{}))
}
