package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestASecondCloseReturnsOnceTheFileIsClosed: a Close called while
// another Close is still closing the file waits for it and then returns
// ErrClosed, so that its return means what a first Close's means: the
// file is closed and its lock released. A caller that reopens the path
// then (here, or in another process) gets the store at once; a second
// Close that returned while the first still held the file sent it into
// the lock (ErrLocked after LockTimeout; without one, a wait as long as
// the first Close's).
func TestASecondCloseReturnsOnceTheFileIsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "twice.db")
	closing := make(chan struct{}) // the first Close holds the file
	release := make(chan struct{}) // ... until this is closed
	waits := make(chan struct{}, 1)
	var hold sync.Once
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	defer letGo()
	s, err := Open(path, Options{tuning: &tuning{
		hooks: engine.Hooks{ClosedClean: func() {
			hold.Do(func() {
				close(closing)
				<-release
			})
		}},
		closeWaits: func() { waits <- struct{}{} },
	}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- s.Close() }()
	<-closing
	second := make(chan error, 1)
	go func() { second <- s.Close() }()
	var secondErr error
	select {
	case secondErr = <-second:
		// It returned while the first Close still holds the file.
	case <-waits:
		letGo()
		secondErr = <-second
	}
	if !errors.Is(secondErr, ErrClosed) {
		t.Errorf("the second Close: %v, want ErrClosed", secondErr)
	}
	// The second Close returned: the file is closed. An Open of its path
	// takes the lock at its first try (LockTimeout bounds a test that
	// fails, it decides nothing in one that passes).
	r, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	letGo()
	if err != nil {
		t.Fatalf("Open right after the second Close returned: %v, want the store (the second Close returned while the first still held the file)", err)
	}
	defer r.Close()
	if err := <-first; err != nil {
		t.Errorf("the first Close: %v", err)
	}
	snap, err := r.Latest(ctx, "t")
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if snap.CheckpointID != id {
		t.Errorf("after reopen: checkpoint %s, want %s", snap.CheckpointID, id)
	}
}

// TestCloseFromOnAsyncErrorDuringAnotherCloseReturns: a Close called
// from inside OnAsyncError while another Close is under way returns
// ErrClosed at once: the Close under way waits for the callback to
// return, so a callback that waited for that Close to close the file
// would hang both. Then the other Close returns too.
func TestCloseFromOnAsyncErrorDuringAnotherCloseReturns(t *testing.T) {
	t.Parallel()
	var s *Store
	var calls sync.Once
	started := make(chan struct{})
	proceed := make(chan struct{})
	inside := make(chan error, 1)
	var err error
	s, err = Open(filepath.Join(t.TempDir(), "cb.db"), Options{OnAsyncError: func(error) {
		calls.Do(func() {
			close(started)
			<-proceed
			inside <- s.Close()
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	failAsync(t, s, "missing")
	<-started
	outside := make(chan error, 1)
	go func() { outside <- s.Close() }()
	// The other Close is under way once it has marked the store closed.
	for {
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			break
		}
		runtime.Gosched()
	}
	close(proceed)
	var insideErr, outsideErr error
	if !returns(t, "Close from inside OnAsyncError during another Close", func() { insideErr = <-inside }) {
		return
	}
	if !errors.Is(insideErr, ErrClosed) {
		t.Errorf("Close from inside OnAsyncError: %v, want ErrClosed", insideErr)
	}
	if !returns(t, "the Close under way", func() { outsideErr = <-outside }) {
		return
	}
	if !errors.Is(outsideErr, ErrNotFound) {
		t.Errorf("the Close under way: %v, want the async failure (ErrNotFound)", outsideErr)
	}
}
