package storage_test

import (
	"testing"

	"fileserver/internal/storage"
	"fileserver/internal/storage/quotatest"
)

func TestLocalQuotaBook(t *testing.T) {
	l, err := storage.OpenLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	quotatest.Run(t, l, "addr:192.0.2.1")
}
