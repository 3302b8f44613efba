package ckpt

// The page check maintenance runs before it deletes.

import (
	"context"
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// checkPagesFirst checks every page of the file a write would trust
// (engine.CheckPages: page ids, headers, branch keys against their
// children's first keys, key order, each page reached once) before a
// maintenance call deletes. A read-write Open checks them, but damage that
// comes later, under the open store, is met by bbolt's writes, which
// trust every page: a flipped page id in a branch page sends a delete
// into another bucket's pages, and the commit frees them and hands them
// out again, so the values of checkpoints the call keeps, in threads the
// damage never touched, were lost while it returned nil
// (h186_calls_test.go). One walk of the file per call: the calls that
// delete in bulk (GC, Prune, DeleteForRuns, CopyThread with Replace,
// Import), not each write (nor DeleteThread: a walk per deleted thread
// made deleting the W4 bench's 1,979 threads run past 65 s); retention calls it only before
// its first write (jobBatch.flush), so a GC with nothing to remove pays
// no walk.
func (s *Store) checkPagesFirst(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return engine.Guard(what+": page check", func() error {
		tx, _, release, err := s.eng.Hold() // the applier paused: the file is tx's view
		if err != nil {
			return err
		}
		defer release()
		defer engine.EndRead(tx)
		if err := engine.CheckTxPages(tx, s.path); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}
