package chunking_test

import (
	"testing"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/chunking/lockertest"
)

func TestMemLockerLiveHolder(t *testing.T) {
	l := chunking.NewMemLocker(time.Second)
	lockertest.TestLiveHolder(t, l, l, time.Second)
}
