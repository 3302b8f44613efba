package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// Two Closes of a failed store at once, from goroutines of their own:
// exactly one closes the file and says the store failed (ErrFailed and
// the cause), the other is ErrClosed, and neither returns before the file
// is closed (the path reopens at once, with every acknowledged write).
func TestH178TwoClosesOfAFailedStore(t *testing.T) {
	t.Parallel()
	for round := range 8 {
		var fail atomic.Bool
		path := filepath.Join(t.TempDir(), "s.ckpt")
		s, err := Open(path, Options{tuning: &tuning{hooks: h178FailHooks(t, "log fsync", &fail)}})
		if err != nil {
			t.Fatal(err)
		}
		ids := saveN(t, s, "t", 0, 2)
		fail.Store(true)
		if _, err := s.Save(context.Background(), "t", map[string]any{"i": 2}, Metadata{"i": 2}); !errors.Is(err, ErrFailed) {
			t.Fatalf("round %d: Save with a failing fsync = %v", round, err)
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = s.Close() })
		}
		wg.Wait()
		failed, closed := 0, 0
		for _, err := range errs {
			switch {
			case errors.Is(err, ErrFailed) && errors.Is(err, errH178Disk):
				failed++
			case errors.Is(err, ErrClosed) && !errors.Is(err, ErrFailed):
				closed++
			default:
				t.Errorf("round %d: a Close of the failed store = %v", round, err)
			}
		}
		if failed != 1 || closed != 1 {
			t.Errorf("round %d: Closes = %v, want one ErrFailed and one ErrClosed", round, errs)
		}
		r, err := Open(path, Options{LockTimeout: 1})
		if err != nil {
			t.Fatalf("round %d: reopen right after both Closes: %v", round, err)
		}
		checkLoads(t, r, "t", ids)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// An Async write that a failed fsync lost is reported to OnAsyncError,
// and a Close from inside that call (a service that shuts down on the
// first failure) says the store failed; the Close after it is ErrClosed.
func TestH178CloseFromOnAsyncErrorOfAFailedStore(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	var s *Store
	var once sync.Once
	var inside error
	done := make(chan struct{})
	path := filepath.Join(t.TempDir(), "s.ckpt")
	s, err := Open(path, Options{Durability: Async, tuning: &tuning{hooks: h178FailHooks(t, "log fsync", &fail)},
		OnAsyncError: func(error) {
			once.Do(func() { inside = s.Close(); close(done) })
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Save(ctx, "t", map[string]any{"i": 0}, Metadata{"i": 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if _, err := s.Save(ctx, "t", map[string]any{"i": 1}, Metadata{"i": 1}); err != nil {
		t.Fatalf("Async Save (queued): %v", err)
	}
	<-done
	if !errors.Is(inside, ErrFailed) || !errors.Is(inside, errH178Disk) {
		t.Errorf("Close from inside OnAsyncError of a failed store = %v, want ErrFailed and the cause", inside)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after it = %v, want ErrClosed", err)
	}
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for _, err := range r.History(ctx, "t", ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("reopened: %d checkpoints, want the 1 flushed (the lost one must not come back)", n)
	}
}
