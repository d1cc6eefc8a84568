package ops_test

import (
	"os"
	"testing"

	"fileserver/internal/ops"
	"fileserver/internal/ops/opstest"
)

func openRoot(t *testing.T) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestFileBook(t *testing.T) {
	b, err := ops.OpenFileBook(openRoot(t), "takedowns.json")
	if err != nil {
		t.Fatal(err)
	}
	opstest.TakedownBook(t, b, b)
}

// The book is in the file once answered: a new process reads it back.
func TestFileBookKept(t *testing.T) {
	root := openRoot(t)
	b, _ := ops.OpenFileBook(root, "takedowns.json")
	td, err := ops.NewTakedowns(b).Add(t.Context(), ops.Takedown{Path: "a/b", Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ops.OpenFileBook(root, "takedowns.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := ops.NewTakedowns(again).Check(t.Context(), "a/b"); err == nil {
		t.Fatalf("takedown %s not read back", td.ID)
	}
}

func TestFileCounts(t *testing.T) {
	root := openRoot(t)
	c, err := ops.OpenFileCounts(root, "downloads.json")
	if err != nil {
		t.Fatal(err)
	}
	opstest.CountBook(t, c, c)
	again, _ := ops.OpenFileCounts(root, "downloads.json")
	if got, _ := again.Downloads(t.Context(), []string{"f/2"}); got["f/2"] != 1 {
		t.Fatalf("counts not read back: %v", got)
	}
}
