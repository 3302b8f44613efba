package engine

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestFlushReturnsWhenItsContextEnds: a Flush whose barrier waits behind
// work that does not end (here a solo op held in the commit loop: a
// stalled disk keeps the loop as busy) returns ctx.Err() once its ctx ends; it never
// waited for its outcome forever. A barrier writes nothing, so leaving
// it is safe, and the async failures it would have reported stay for the
// next Flush: reported once, never lost.
func TestFlushReturnsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	for _, noWAL := range []bool{false, true} {
		e := openTestEngine(t, filepath.Join(t.TempDir(), "s.db"), noWAL)
		boom := errors.New("boom")
		// An async write that fails, noted before the solo op runs.
		if err := e.Send(context.Background(), &Op{Ctx: context.Background(), Apply: func(Writer) error { return boom }}); err != nil {
			t.Fatal(err)
		}
		entered, release := make(chan struct{}), make(chan struct{})
		soloDone := make(chan error, 1)
		go func() {
			soloDone <- e.Solo(context.Background(), func() error {
				close(entered)
				<-release
				return nil
			})
		}()
		<-entered // the commit loop is held in the solo op
		ctx, cancel := context.WithCancel(context.Background())
		flushed := make(chan error, 1)
		go func() { flushed <- e.Flush(ctx) }()
		for len(e.queue) == 0 { // the barrier is queued behind the solo op
			runtime.Gosched()
		}
		cancel()
		// Only a failure waits this long: a Flush that honours its ctx
		// returns at once.
		guard := time.NewTimer(10 * time.Second)
		select {
		case err := <-flushed:
			guard.Stop()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("nowal %v: Flush whose ctx ended = %v, want context.Canceled", noWAL, err)
			}
		case <-guard.C:
			t.Errorf("nowal %v: Flush did not return when its ctx ended (it waits for the held commit loop)", noWAL)
		}
		close(release)
		if err := <-soloDone; err != nil {
			t.Fatal(err)
		}
		// The failure the abandoned barrier passed by is reported by the
		// next Flush, once.
		if err := e.Flush(context.Background()); !errors.Is(err, boom) {
			t.Errorf("nowal %v: Flush after the abandoned one = %v, want the async failure", noWAL, err)
		}
		if err := e.Flush(context.Background()); err != nil {
			t.Errorf("nowal %v: second Flush = %v, want nil", noWAL, err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
