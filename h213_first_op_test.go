package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The log of a read-write session that writes nothing is bound to the
// file only before its first record (internal/engine/bind.go): these
// tests take every operation that relied on Open's binding as the first
// of a session, and a write during and after a Backup, the one copy that
// holds the file while writers log.

// h213Key is the one key of the sealed stores below.
func h213Key() Key {
	k := Key{ID: 7}
	for i := range k.Secret {
		k.Secret[i] = byte(i*13 + 5)
	}
	return k
}

// h213Store makes a sealed store of two threads of three checkpoints each,
// closed, and returns its path and options.
func h213Store(t *testing.T) (string, Options) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	opts := Options{Encryption: &Encryption{Keys: []Key{h213Key()}}}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"t1", "t2"} {
		for j := range 3 {
			if _, err := s.Save(ctx, th, map[string]any{"n": j}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, opts
}

// h213Held is opts with the background applier held (engine.Hooks): a
// write stays in the log alone until the commit loop applies it, so the
// files copied after it (crashCopy) are what a kill -9 leaves, and the
// write survives only if its log is bound to the file.
func h213Held(opts Options) Options {
	opts.tuning = &tuning{}
	opts.tuning.hooks.HoldApplier = true
	return opts
}

// h213Latest checks that thread t1's newest checkpoint in the store at
// path is want, and that Verify finds nothing wrong.
func h213Latest(t *testing.T, path string, opts Options, want string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Latest(ctx, "t1")
	if err != nil || snap.CheckpointID != want {
		t.Fatalf("Latest(t1) = %v, %v; want %s", snap, err, want)
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}

// h213KeptAfterKillAndClose checks that id is thread t1's newest
// checkpoint after a kill now (a copy of the open store's files), then
// closes s and checks it again in the file at path.
func h213KeptAfterKillAndClose(t *testing.T, s *Store, path string, opts Options, id string) {
	t.Helper()
	h213Latest(t, crashCopy(t, s), opts, id)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h213Latest(t, path, opts, id)
}

// TestH213FirstOperationOfSessionThenWrite: each operation that relied on
// Open's binding of the log (ApplyLog, Compact, GC, DeleteThread, both
// Backups, Flush, Rekey, Verify, a Close alone) as the first of a
// read-write session, on a store closed cleanly and on one whose last
// session was killed (kill -9: the file and its log copied while the
// session was open, before it wrote anything, so the log holds its header
// alone, of an identity the file is not bound to). Then a write: it must
// survive a kill (its log, bound, is replayed and not refused as another
// store's) and a clean Close, and Verify must find nothing wrong.
func TestH213FirstOperationOfSessionThenWrite(t *testing.T) {
	// Parallel: it waits on fsyncs and children far more than it computes
	// (under half a core), and as a serial test it held the whole package
	// back for its time (the serial tests run alone, before all others).
	t.Parallel()
	ctx := context.Background()
	ops := []struct {
		name string
		run  func(t *testing.T, s *Store) error
	}{
		{"apply-log", func(t *testing.T, s *Store) error { return s.ApplyLog(ctx) }},
		{"compact", func(t *testing.T, s *Store) error { _, err := s.Compact(ctx, nil); return err }},
		{"gc-nothing", func(t *testing.T, s *Store) error { _, err := s.GC(ctx, Policy{KeepLast: 100}); return err }},
		{"gc-some", func(t *testing.T, s *Store) error {
			st, err := s.GC(ctx, Policy{KeepLast: 1})
			if err == nil && st.Checkpoints == 0 {
				err = errors.New("GC removed nothing")
			}
			return err
		}},
		{"delete-thread", func(t *testing.T, s *Store) error { return s.DeleteThread(ctx, "t2") }},
		{"backup", func(t *testing.T, s *Store) error { var b bytes.Buffer; return s.Backup(ctx, &b) }},
		{"backup-file", func(t *testing.T, s *Store) error { return s.BackupFile(ctx, filepath.Join(t.TempDir(), "b.db")) }},
		{"flush", func(t *testing.T, s *Store) error { return s.Flush(ctx) }},
		{"rekey", func(t *testing.T, s *Store) error { _, err := s.Rekey(ctx); return err }},
		{"verify", func(t *testing.T, s *Store) error {
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err == nil && len(rep.Problems) > 0 {
				err = fmt.Errorf("problems: %+v", rep.Problems)
			}
			return err
		}},
		{"close", nil},
	}
	for _, killed := range []bool{false, true} {
		for _, op := range ops {
			t.Run(fmt.Sprintf("killed=%v/%s", killed, op.name), func(t *testing.T) {
				path, opts := h213Store(t)
				if killed {
					s, err := Open(path, opts)
					if err != nil {
						t.Fatal(err)
					}
					path = crashCopy(t, s)
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
				}
				s, err := Open(path, h213Held(opts))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if op.run == nil {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if s, err = Open(path, h213Held(opts)); err != nil {
						t.Fatal(err)
					}
					defer s.Close()
				} else if err := op.run(t, s); err != nil {
					t.Fatalf("%s as the first operation: %v", op.name, err)
				}
				id, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
				if err != nil {
					t.Fatalf("a write after %s: %v", op.name, err)
				}
				h213KeptAfterKillAndClose(t, s, path, opts, id)
			})
		}
	}
}

// h213Hang is how long a test below waits for what must not wait at all
// (a write during a Backup) before it says it hung: a guard against a
// deadlock, not a measure of speed.
const h213Hang = 2 * time.Minute

// TestH213WriteFromBackupProgressCallback: the first write of a session,
// from a Backup's progress callback (each kind of Backup), returns while
// the Backup holds the file, and is kept. A binding made by the write
// waited for the Backup's hold, which waited for the callback.
func TestH213WriteFromBackupProgressCallback(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"stream", "file"} {
		t.Run(kind, func(t *testing.T) {
			path, opts := h213Store(t)
			s, err := Open(path, h213Held(opts))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var id string
			var saveErr error
			saved := false
			progress := BackupProgress(func(written, total int64) {
				if saved {
					return
				}
				saved = true
				done := make(chan struct{})
				go func() {
					defer close(done)
					id, saveErr = s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
				}()
				select {
				case <-done:
				case <-time.After(h213Hang):
					saveErr = errors.New("a write from the Backup's progress callback hung")
				}
			})
			errc := make(chan error, 1)
			go func() {
				if kind == "stream" {
					var b bytes.Buffer
					errc <- s.Backup(ctx, &b, progress)
				} else {
					errc <- s.BackupFile(ctx, filepath.Join(t.TempDir(), "b.db"), progress)
				}
			}()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !saved || saveErr != nil {
				t.Fatalf("write from the progress callback: called %v: %v", saved, saveErr)
			}
			h213KeptAfterKillAndClose(t, s, path, opts, id)
		})
	}
}

// TestH213WriteDuringBackupInAnotherGoroutine: the first write of a
// session, from another goroutine while a Backup (each kind) holds the
// file, returns before the Backup ends (the Backup's progress callback
// waits for it), and is kept.
func TestH213WriteDuringBackupInAnotherGoroutine(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"stream", "file"} {
		t.Run(kind, func(t *testing.T) {
			path, opts := h213Store(t)
			s, err := Open(path, h213Held(opts))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			started, wrote := make(chan struct{}), make(chan struct{})
			var waitErr error
			first := true
			progress := BackupProgress(func(written, total int64) {
				if !first {
					return
				}
				first = false
				close(started)
				select {
				case <-wrote:
				case <-time.After(h213Hang):
					waitErr = errors.New("the write in another goroutine did not return while the Backup held the file")
				}
			})
			errc := make(chan error, 1)
			go func() {
				if kind == "stream" {
					var b bytes.Buffer
					errc <- s.Backup(ctx, &b, progress)
				} else {
					errc <- s.BackupFile(ctx, filepath.Join(t.TempDir(), "b.db"), progress)
				}
			}()
			<-started
			id, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
			close(wrote)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if waitErr != nil {
				t.Fatal(waitErr)
			}
			h213KeptAfterKillAndClose(t, s, path, opts, id)
		})
	}
}

// TestH213BackupFirstThenWrite: a Backup (each kind) as the first
// operation of a session, then a write: the copy opens alone, whole, and
// the write survives a kill and a Close.
func TestH213BackupFirstThenWrite(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"stream", "file"} {
		t.Run(kind, func(t *testing.T) {
			path, opts := h213Store(t)
			s, err := Open(path, h213Held(opts))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			first, err := s.Latest(ctx, "t1")
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "b.db")
			if kind == "stream" {
				var b bytes.Buffer
				if err := s.Backup(ctx, &b); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dst, b.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := s.BackupFile(ctx, dst); err != nil {
				t.Fatal(err)
			}
			id, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
			if err != nil {
				t.Fatal(err)
			}
			h213KeptAfterKillAndClose(t, s, path, opts, id)
			h213Latest(t, dst, opts, first.CheckpointID)
		})
	}
}
