//go:build linux

package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// Resource bounds of a long-lived service: each Open and Close, failed
// Open, backup, export, import, compaction, rekey, verify, sweeper and
// cancelled call gives back every goroutine and file descriptor it took.
// Counted before and after many rounds (CKPT_LEAK_ROUNDS, default 10):
// a leak of one per round shows as a difference of rounds.

func leakRounds() int {
	if n, err := strconv.Atoi(os.Getenv("CKPT_LEAK_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 10
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// settled waits (at most 5 s) until the goroutines are back to at most
// before, and returns the count then.
func settled(before int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= before || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkResourcesBack runs round rounds times and fails if the goroutines or the
// open descriptors grew by as many as half the rounds.
func checkResourcesBack(t *testing.T, rounds int, round func(i int)) {
	t.Helper()
	round(-1) // warm up: pools, lazily started things
	runtime.GC()
	g0 := runtime.NumGoroutine()
	fd0 := openFDs(t)
	for i := range rounds {
		round(i)
	}
	g1 := settled(g0)
	fd1 := openFDs(t)
	if g1-g0 >= rounds/2 || fd1-fd0 >= rounds/2 {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("after %d rounds: goroutines %d -> %d, open fds %d -> %d\n%s", rounds, g0, g1, fd0, fd1, buf)
	}
	t.Logf("after %d rounds: goroutines %d -> %d, open fds %d -> %d", rounds, g0, g1, fd0, fd1)
}

func leakKey(id uint32, b byte) *Encryption {
	var k Key
	k.ID = id
	for i := range k.Secret {
		k.Secret[i] = b
	}
	return &Encryption{Keys: []Key{k}}
}

func leakFill(t *testing.T, s *Store, threads, per int) {
	t.Helper()
	ctx := context.Background()
	for th := range threads {
		for i := range per {
			if _, err := s.Save(ctx, fmt.Sprintf("t%d", th), map[string]any{"v": i, "msgs": []any{"hello", i}}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestOpenCloseCyclesLeakNothing(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"sync", Options{}},
		{"async", Options{Durability: Async}},
		{"nowal", Options{NoWAL: true}},
		{"encrypted", Options{Encryption: leakKey(1, 7)}},
		{"sweeper", Options{SweepInterval: time.Millisecond, SweepPolicy: Policy{KeepLast: 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".ckpt")
			s, err := Open(path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			leakFill(t, s, 2, 3)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkResourcesBack(t, leakRounds(), func(int) {
				s, err := Open(path, c.opts)
				if err != nil {
					t.Fatal(err)
				}
				leakFill(t, s, 1, 1)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				ro := c.opts
				ro.ReadOnly = true
				r, err := Open(path, ro)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.Latest(context.Background(), "t0"); err != nil {
					t.Fatal(err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestFailedOpensLeakNothing(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ckpt")
	s, err := Open(good, Options{Encryption: leakKey(1, 7)})
	if err != nil {
		t.Fatal(err)
	}
	leakFill(t, s, 2, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "damaged.ckpt")
	if err := os.WriteFile(damaged, bytes.Repeat([]byte{0xAB}, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	nospace := func(*os.File) error { return syscall.ENOSPC }
	for _, c := range []struct {
		name string
		path string
		opts Options
		want error
	}{
		{"damaged", damaged, Options{}, ErrCorrupt},
		{"damaged-ro", damaged, Options{ReadOnly: true}, ErrCorrupt},
		{"missing-dir", filepath.Join(dir, "nodir", "x.ckpt"), Options{}, os.ErrNotExist},
		{"missing-ro", filepath.Join(dir, "absent.ckpt"), Options{ReadOnly: true}, os.ErrNotExist},
		{"bad-policy", good, Options{SweepInterval: time.Second, SweepPolicy: Policy{KeepLast: -1}}, ErrInvalidConfig},
		{"wrong-key", good, Options{Encryption: leakKey(1, 9)}, nil},
		{"no-key", good, Options{}, nil},
		{"disk-full", filepath.Join(dir, "full.ckpt"), Options{tuning: &tuning{hooks: engine.Hooks{SyncLog: nospace, CommitBolt: func(tx *bolt.Tx) error { _ = tx.Rollback(); return syscall.ENOSPC }}}}, ErrDiskFull},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkResourcesBack(t, leakRounds(), func(int) {
				s, err := Open(c.path, c.opts)
				if err == nil {
					// Some "bad" opens succeed (a wrong key is found on
					// read): close them.
					_, _ = s.Latest(context.Background(), "t0")
					if c.name == "disk-full" {
						// The log is fsync'd on the first write, not at Open.
						_, err := s.Save(context.Background(), "t0", map[string]any{"v": 1}, nil)
						if !errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrFailed) {
							t.Fatalf("save: %v, want ErrDiskFull or ErrFailed", err)
						}
						_ = s.Close()
						return
					}
					_ = s.Close()
					if c.want != nil {
						t.Fatalf("open succeeded, want %v", c.want)
					}
					return
				}
				if c.want != nil && !errors.Is(err, c.want) {
					t.Fatalf("open: %v, want %v", err, c.want)
				}
			})
		})
	}
	t.Run("locked", func(t *testing.T) {
		s, err := Open(good, Options{Encryption: leakKey(1, 7)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		checkResourcesBack(t, leakRounds(), func(int) {
			_, err := Open(good, Options{LockTimeout: time.Millisecond, Encryption: leakKey(1, 7)})
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("open: %v, want ErrLocked", err)
			}
			_, err = Open(good, Options{LockTimeout: time.Millisecond, ReadOnly: true})
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("open read-only: %v, want ErrLocked", err)
			}
		})
	})
}

func TestMaintenanceLeaksNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	opts := Options{Encryption: leakKey(1, 7)}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	leakFill(t, s, 3, 4)
	ctx := context.Background()
	checkResourcesBack(t, leakRounds(), func(i int) {
		var buf bytes.Buffer
		if err := s.Backup(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("b%d.ckpt", i))
		if err := s.BackupFile(ctx, dst); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(dst)
		buf.Reset()
		if _, err := s.Export(ctx, &buf, ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		imp := filepath.Join(dir, fmt.Sprintf("i%d.ckpt", i))
		if _, err := ImportFile(ctx, imp, bytes.NewReader(buf.Bytes()), Options{}, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(imp)
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rekey(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GC(ctx, Policy{KeepLast: 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stats(ctx); err != nil {
			t.Fatal(err)
		}
		// Cancelled calls.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_ = s.Backup(cctx, &buf)
		_, _ = s.Export(cctx, &buf, ExportOptions{})
		_, _ = s.Compact(cctx, nil)
		_, _ = s.Verify(cctx, VerifyOptions{})
		// A List abandoned after its first item.
		for _, err := range s.List(ctx, ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		// A Reader never closed.
		r := s.NewReader()
		if _, err := r.GetTuple(ctx, Config{ThreadID: "t0"}); err != nil {
			t.Fatal(err)
		}
	})
}
