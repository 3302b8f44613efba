package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestFileTruncatedUnderAnOpenStore: the store's file cut short while it
// is open (another program, `ckpt export FILE -o FILE`, a bad disk). Its
// pages then fault. Reads and writes must fail with an error, the process
// must not die, and nothing may wait forever: bbolt reads the meta page
// with its meta and map locks held, so a fault in a Begin leaves them
// held for good, and without the fix every later Begin, write and Close
// waited forever (a reader first), or the commit loop's own Begin
// panicked outside any recover and killed the process (a writer first).
func TestFileTruncatedUnderAnOpenStore(t *testing.T) {
	t.Parallel()
	type step int
	const (
		load step = iota
		save
		compact
	)
	type mode struct {
		name  string
		opts  Options
		steps []step
		cut   int64 // the bytes left
	}
	modes := []mode{
		{"WAL/ReadFirst", Options{}, []step{load, load, save, compact}, 0},
		{"WAL/WriteFirst", Options{}, []step{save, load, save}, 0},
		{"WAL/CompactFirst", Options{}, []step{compact, load, save}, 0},
		{"NoWAL/ReadFirst", Options{NoWAL: true}, []step{load, save, load}, 0},
		{"NoWAL/WriteFirst", Options{NoWAL: true}, []step{save, load, save}, 0},
		{"ReadOnly", Options{ReadOnly: true}, []step{load, load}, 0},
	}
	// Cut after the two meta pages: Begin works, the pages it leads to
	// fault.
	for _, m := range slices.Clone(modes) {
		m.name += "/MetaLeft"
		m.cut = 2 * int64(os.Getpagesize())
		modes = append(modes, m)
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "cut.db")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(path, mode.opts); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, mode.cut); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i, st := range mode.steps {
					var err error
					switch st {
					case load:
						_, err = s.Load(ctx, "t", id)
					case save:
						_, err = s.Save(ctx, "t", map[string]any{"v": 2}, nil)
					case compact:
						_, err = s.Compact(ctx, nil)
					}
					// A write may still succeed (the log takes it, or bbolt
					// writes past the cut): only a read must fail.
					if st == load && err == nil {
						t.Errorf("step %d: Load from a truncated file returned no error", i)
					}
				}
				_ = s.Close()
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("calls on a store whose file was truncated did not return in 20 s")
			}
		})
	}
}

// TestFileTruncatedUnderReadersAndWriters: the file cut short while
// readers and writers run (with the log). Every call returns, and Close
// too. Seen failing without StuckErr (2 runs of 3): a reader that found
// the store stuck before the fault was recorded got no error and no
// tuple, and Load dereferenced it (a nil pointer panic that killed the
// process). Seen failing without engine.releaseBeginLocks (about 1 run
// in 3): the faulting Begin kept bbolt's meta lock, and a Begin that had
// passed the stuck check, or the applier ending a pooled read (holding
// the pool's lock, so every reader waited behind it), waited for it
// forever.
func TestFileTruncatedUnderReadersAndWriters(t *testing.T) {
	t.Parallel()
	rounds := 10
	if testing.Short() {
		rounds = 2
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{{"WAL", Options{}}, {"NoWAL", Options{NoWAL: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			for round := range rounds {
				truncateUnderLoad(t, round, mode.opts)
			}
		})
	}
}

func truncateUnderLoad(t *testing.T, round int, opts Options) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cut.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A call that returns no error returns its result.
				if g%2 == 0 {
					if snap, err := s.Load(ctx, "t", id); err == nil && snap == nil {
						t.Errorf("round %d: Load returned neither a snapshot nor an error", round)
					}
				} else if got, err := s.Save(ctx, "t", map[string]any{"v": g}, nil); err == nil && got == "" {
					t.Errorf("round %d: Save returned neither an id nor an error", round)
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		_ = s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("round %d: calls or Close on a store whose file was truncated did not return in 20 s", round)
	}
}
