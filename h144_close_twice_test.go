package ckpt

import (
	"context"
	"errors"
	"path/filepath"
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
