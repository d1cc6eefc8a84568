package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A commit of partial data stopped between its steps is finished by Adopt: after the link
// (the partial's name still there), after the partial's removal (no metadata yet), and after
// the metadata (nothing left to do). Data that is not the partial's is never adopted.
func TestAdoptInterruptedCommit(t *testing.T) {
	data := []byte("the bytes of one upload, committed halfway")
	sum := sha256.Sum256(data)
	meta := Meta{ContentType: "text/plain", Uploader: "juliet@example.org", SHA256: hex.EncodeToString(sum[:])}
	for _, step := range []string{"linked", "unlinked", "described"} {
		t.Run(step, func(t *testing.T) {
			l, dir := openTest(t)
			ctx := context.Background()
			ref := PartialRef{ID: "up-" + step}
			p, err := l.OpenPartial(ref, true)
			if err != nil {
				t.Fatal(err)
			}
			w, _ := p.AppendAt(ctx, 0)
			w.Write(data)
			p.Sync()
			p.Close()
			src := partialDir + "/" + ref.ID
			if err := l.link(src, "f.txt", time.Time{}); err != nil {
				t.Fatal(err)
			}
			if step != "linked" {
				l.root.Remove(src)
			}
			if step == "described" {
				l.finishCommit("f.txt", Meta{Name: "f.txt", Size: int64(len(data)), ContentType: "text/plain", SHA256: meta.SHA256}, time.Time{})
			}
			got, err := l.Adopt(ctx, ref, "f.txt", int64(len(data)), meta)
			if err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			if got.SHA256 != meta.SHA256 || got.ContentType != "text/plain" || got.Size != int64(len(data)) {
				t.Fatalf("adopted metadata %+v", got)
			}
			if m, err := l.Stat(ctx, "f.txt"); err != nil || m.ContentType != "text/plain" || m.SHA256 != meta.SHA256 {
				t.Fatalf("stored metadata %+v, %v", m, err)
			}
			if _, err := os.Stat(filepath.Join(dir, src)); !os.IsNotExist(err) {
				t.Fatalf("partial data left: %v", err)
			}
		})
	}
	t.Run("another file", func(t *testing.T) {
		l, _ := openTest(t)
		ctx := context.Background()
		w, _ := l.Create(ctx, "f.txt")
		w.Write([]byte("someone else's bytes of the same length!!!"[:len(data)]))
		w.Commit(ctx, Meta{})
		if _, err := l.Adopt(ctx, PartialRef{ID: "up-x"}, "f.txt", int64(len(data)), meta); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Adopt of another upload's file: %v, want ErrNotFound", err)
		}
		if _, err := l.Adopt(ctx, PartialRef{ID: "up-x"}, "none.txt", 3, meta); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Adopt of a missing file: %v", err)
		}
	})
}
