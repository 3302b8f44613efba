package ckpt

import (
	"context"
	"errors"
	"fmt"

	"strings"
	"sync"
	"testing"
	"time"
)

// detect is the failure detector of the "does not block" tests: far longer
// than any of the waited-for calls takes, it only ends a test that hangs.
// The calls they wait for would wait on the paused read, which is released
// only after them: a hang, found as surely by any bound. 10 s was outrun
// once (8 Saves of 512 KiB and an ApplyLog took 14.6 s under -race at load
// 20).
const detect = 2 * time.Minute

// pausedWriter blocks the first Write until release is closed, after
// telling inside that a Write has begun: an Export writing to it is paused
// in the middle of its read.
type pausedWriter struct {
	once    sync.Once
	inside  chan struct{}
	release chan struct{}
}

func newPausedWriter() *pausedWriter {
	return &pausedWriter{inside: make(chan struct{}), release: make(chan struct{})}
}

func (w *pausedWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.inside) })
	<-w.release
	return len(p), nil
}

// pauseExport starts an Export of thread that stays inside its read until
// the returned release is called (also at cleanup). Export writes inside
// its read transaction once its 64 KiB buffer fills, so the thread holds a
// value larger than that.
func pauseExport(t *testing.T, s *Store, thread string) (release func(), done <-chan error) {
	t.Helper()
	big := strings.Repeat("x", 256<<10)
	if _, err := s.Save(context.Background(), thread, map[string]any{"big": big}, nil); err != nil {
		t.Fatal(err)
	}
	w := newPausedWriter()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Export(context.Background(), w, ExportOptions{Threads: []string{thread}})
		errc <- err
	}()
	select {
	case <-w.inside:
	case err := <-errc:
		t.Fatalf("Export ended before writing: %v", err)
	case <-time.After(detect):
		t.Fatal("Export never wrote")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(w.release) }) }
	// Released before the store's own cleanup (registered earlier) closes it.
	t.Cleanup(release)
	return release, errc
}

// within runs fn in a goroutine and fails the test if it does not return
// within the detector's time.
func within(t *testing.T, what string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(detect):
		t.Fatalf("%s did not complete while a long read was open", what)
	}
}

// TestSyncSaveCompletesDuringLongRead: a Sync Save, and moving the log into
// the file (the applier's commit, which also grows the file), complete
// while another goroutine is paused inside an Export's read.
func TestSyncSaveCompletesDuringLongRead(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{})
	ctx := context.Background()
	release, exportDone := pauseExport(t, s, "long")
	within(t, "Sync Save", func() error {
		_, err := s.Save(ctx, "other", map[string]any{"n": 1}, nil)
		return err
	})
	// A few MB more than the file held when the read began: the applier's
	// commit must grow the file, and its map, past what the reader sees.
	within(t, "Saves that grow the file, then ApplyLog", func() error {
		big := strings.Repeat("y", 512<<10)
		for i := range 8 {
			if _, err := s.Save(ctx, fmt.Sprintf("grow%d", i), map[string]any{"big": big}, nil); err != nil {
				return err
			}
		}
		return s.ApplyLog(ctx)
	})
	select {
	case err := <-exportDone:
		t.Fatalf("the long read ended before it was released (%v): the test proves nothing", err)
	default:
	}
	release()
	if err := <-exportDone; err != nil {
		t.Fatal(err)
	}
}

// TestPointReadCompletesDuringLongRead: while a long read is paused and a
// Sync Save is on its way, point reads keep completing (a read lock with
// writer preference would queue them behind the waiting writer), and once
// the Save returns they see it.
func TestPointReadCompletesDuringLongRead(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{})
	ctx := context.Background()
	if _, err := s.Save(ctx, "point", map[string]any{"n": 0}, nil); err != nil {
		t.Fatal(err)
	}
	release, exportDone := pauseExport(t, s, "long")
	saved := make(chan string, 1)
	saveErr := make(chan error, 1)
	go func() {
		id, err := s.Save(ctx, "point", map[string]any{"n": 1}, nil)
		if err != nil {
			saveErr <- err
			return
		}
		saved <- id
	}()
	within(t, "point reads while a Save is pending", func() error {
		for {
			select {
			case id := <-saved:
				tu, err := s.GetTuple(ctx, Config{ThreadID: "point"})
				if err != nil {
					return err
				}
				if tu.Checkpoint.ID != id {
					return fmt.Errorf("GetTuple after the Save returned %s, want the Save's %s", tu.Checkpoint.ID, id)
				}
				return nil
			case err := <-saveErr:
				return err
			default:
			}
			if _, err := s.GetTuple(ctx, Config{ThreadID: "point"}); err != nil {
				return err
			}
		}
	})
	release()
	if err := <-exportDone; err != nil {
		t.Fatal(err)
	}
}

// TestLongReadKeepsItsSnapshot: a read sees the state of its start to its
// end, while later writes are acknowledged, applied to the file and pruned
// from the overlay meanwhile.
func TestLongReadKeepsItsSnapshot(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{})
	ctx := context.Background()
	first, err := s.Save(ctx, "t", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	readErr := make(chan error, 1)
	go func() {
		readErr <- s.view(ctx, func(r reader) error {
			before, err := s.loadTuple(r, "t", "", nil, nil)
			if err != nil {
				return err
			}
			close(inside)
			<-release
			after, err := s.loadTuple(r, "t", "", nil, nil)
			if err != nil {
				return err
			}
			if before.Checkpoint.ID != first || after.Checkpoint.ID != first {
				return fmt.Errorf("the read saw %s, then %s; want %s throughout", before.Checkpoint.ID, after.Checkpoint.ID, first)
			}
			if r.Exists(threadPath("t2", bucketCheckpoints)) {
				return errors.New("the read sees a thread created after it began")
			}
			return nil
		})
	}()
	select {
	case <-inside:
	case err := <-readErr:
		t.Fatal(err)
	}
	within(t, "Saves and ApplyLog", func() error {
		for i := range 5 {
			if _, err := s.Save(ctx, "t", map[string]any{"n": 2 + i}, nil); err != nil {
				return err
			}
			if _, err := s.Save(ctx, "t2", map[string]any{"n": i}, nil); err != nil {
				return err
			}
		}
		return s.ApplyLog(ctx)
	})
	close(release)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
}
