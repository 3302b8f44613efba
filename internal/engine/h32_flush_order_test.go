package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlushInAFailedOpenGroupReportsTheAsyncOpsBeforeIt: while A's fsync
// is held, an Async op a1, a Flush, and an Async op a2 join one open
// group; A's fsync fails. The Flush returns the store's failure and a1's
// (queued before it), not a2's (queued after it): a2's failure goes to
// the next Flush.
func TestFlushInAFailedOpenGroupReportsTheAsyncOpsBeforeIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.db")
	e, _, hold, fail, inSync, rel := openHeldGroups(t, path)
	defer e.Close()
	defer rel()
	hold.Store(true)
	fail.Store(true)
	a := put("a")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inSync
	errA1 := errors.New("a1 refused")
	// a1 fails alone (its own error), a2 with the group.
	a1 := &Op{Ctx: context.Background(), Apply: func(w Writer) error { return errA1 }}
	if err := e.Send(a1.Ctx, a1); err != nil {
		t.Fatal(err)
	}
	flush := &Op{Ctx: context.Background(), Done: make(chan error, 1)}
	if err := e.Send(flush.Ctx, flush); err != nil {
		t.Fatal(err)
	}
	// a2, Async, sent once the loop took a1 and the Flush (in queue
	// order) and returned once the loop applied it: all three are in
	// the open group.
	applied := make(chan struct{})
	a2 := &Op{Ctx: context.Background(), Apply: func(w Writer) error {
		defer close(applied)
		return w.Put(testBucket, []byte("a2"), []byte("v"))
	}}
	if err := e.Send(a2.Ctx, a2); err != nil {
		t.Fatal(err)
	}
	<-applied
	rel()
	if err := <-a.Done; !errors.Is(err, ErrFailed) {
		t.Fatalf("a: %v, want ErrFailed", err)
	}
	const asyncFailed = "async write failed"
	err := <-flush.Done
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errA1) || strings.Count(err.Error(), asyncFailed) != 1 {
		t.Errorf("the Flush: %v; want the store's failure and a1's alone", err)
	}
	next := e.Flush(context.Background())
	if !errors.Is(next, ErrFailed) || errors.Is(next, errA1) || strings.Count(next.Error(), asyncFailed) != 1 {
		t.Errorf("the next Flush: %v; want the store's failure and a2's (not a1's again)", next)
	}
	if got := readKey(t, e, "a2"); got != "" {
		t.Errorf("a2 reads %q", got)
	}
}
