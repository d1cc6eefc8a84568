package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Judge reads a committed file back for judge (its type, a malware scan) and removes it when
// judge refuses it, or when it cannot be read back: what is not judged is not kept. A file
// gone already is nothing to judge. The error is judge's, or the reading's.
func Judge(ctx context.Context, store Store, name string, judge func(io.Reader) error) error {
	o, err := store.Open(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		store.Delete(ctx, name)
		return fmt.Errorf("the upload could not be read back to be judged: %w", err)
	}
	err = judge(o.Content())
	o.Close()
	if err == nil {
		return nil
	}
	if derr := store.Delete(ctx, name); derr != nil && !errors.Is(derr, ErrNotFound) {
		return derr
	}
	return err
}
