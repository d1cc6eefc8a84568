package chunking_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/chunking/lockertest"
	"fileserver/internal/storage"
)

// Uploads counts the requests refused because another was still sending the upload.
func TestBusyIsCounted(t *testing.T) {
	l := chunking.NewMemLocker(time.Hour)
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sessions, _ := chunking.NewDirStore(root, false)
	st, err := storage.OpenLocal(dir, storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := chunking.New(sessions, st.Backend(), chunking.Options{Locker: l})
	s, err := u.Create(context.Background(), chunking.Session{Target: "f", Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	held, _ := l.Lock(context.Background(), s.ID, chunking.Claim{Cancel: func() {}, Idle: func() time.Duration { return 0 }})
	defer held.Release()
	_, err = u.Append(context.Background(), s.ID, chunking.AppendRequest{Length: -1, Idle: func() time.Duration { return 0 }})
	if !errors.Is(err, chunking.ErrBusy) || u.Snapshot().Busy != 1 {
		t.Fatalf("append while another request sends: %v, busy count %d", err, u.Snapshot().Busy)
	}
}

func TestMemLockerLiveHolder(t *testing.T) {
	l := chunking.NewMemLocker(time.Second)
	lockertest.TestLiveHolder(t, l, l, time.Second)
}
