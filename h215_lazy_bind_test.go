package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
	bolt "go.etcd.io/bbolt"
)

// Review of the lazy binding of the log (internal/engine/bind.go,
// 45ef5bc): the binding commit is now the first commit of a session, made
// by its first write, so its failures and the files a kill or a read-only
// Open meet around it are tried here.

// h215Bind is opts with the session's first binding commit
// (Hooks.CommitBind) made by first instead of bbolt.
func h215Bind(opts Options, first func(tx *bolt.Tx) error) Options {
	opts = h213Held(opts)
	var n atomic.Int64
	opts.tuning.hooks.CommitBind = func(tx *bolt.Tx) error {
		if n.Add(1) == 1 {
			return first(tx)
		}
		return tx.Commit()
	}
	return opts
}

// TestH215BindOnFullDiskFailsTheWriteAlone: the binding commit of a
// session's first write finds no room (bbolt's write fails with ENOSPC,
// nothing of it on the file). The write fails with ErrDiskFull and not
// ErrFailed, the store goes on, the next write binds and is kept through
// a kill and a Close; the failed write never shows up.
func TestH215BindOnFullDiskFailsTheWriteAlone(t *testing.T) {
	ctx := context.Background()
	path, opts := h213Store(t)
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Latest(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full := h215Bind(opts, func(tx *bolt.Tx) error {
		_ = tx.Rollback()
		return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	})
	s, err = Open(path, full)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Save(ctx, "t1", map[string]any{"n": 8}, nil)
	if !errors.Is(err, ErrDiskFull) || errors.Is(err, ErrFailed) {
		t.Fatalf("first write, binding on a full disk: %v; want ErrDiskFull alone", err)
	}
	h213Latest(t, crashCopy(t, s), opts, before.CheckpointID) // a kill now: nothing refused
	id, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
	if err != nil {
		t.Fatalf("the write after the full disk: %v", err)
	}
	h213KeptAfterKillAndClose(t, s, path, opts, id)
}

// TestH215BindFsyncFailsTheStore: the binding commit's fsync fails (bbolt
// wrote the page, then fdatasync failed). The write fails with
// ErrFailed, later writes are refused, Close keeps the log the file may
// say is live, and the reopen opens with the checkpoints of before and
// not the failed write, whether or not the page reached the file.
func TestH215BindFsyncFailsTheStore(t *testing.T) {
	ctx := context.Background()
	for _, written := range []bool{false, true} {
		t.Run(fmt.Sprintf("page-written=%v", written), func(t *testing.T) {
			path, opts := h213Store(t)
			s, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			before, err := s.Latest(ctx, "t1")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			failing := h215Bind(opts, func(tx *bolt.Tx) error {
				if written {
					if err := tx.Commit(); err != nil {
						return err
					}
				} else {
					_ = tx.Rollback()
				}
				return fmt.Errorf("file sync error: %w", syscall.EIO)
			})
			s, err = Open(path, failing)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Save(ctx, "t1", map[string]any{"n": 8}, nil)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("first write, binding fsync failed: %v; want ErrFailed", err)
			}
			if _, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil); !errors.Is(err, ErrFailed) {
				t.Fatalf("a write after the failed binding: %v; want ErrFailed", err)
			}
			killed := crashCopy(t, s)
			_ = s.Close()
			h213Latest(t, killed, opts, before.CheckpointID)
			h213Latest(t, path, opts, before.CheckpointID)
		})
	}
}

// TestH215ReadOnlyAfterAnUnboundSessionWasKilled: a session killed before
// its first write leaves a log of its header alone whose identity the
// file is not bound to, beside a file that does not say it is live. A
// read-only Open (another process's, the CLI's) must open it, read and
// verify it, and a read-write Open after it must write.
func TestH215ReadOnlyAfterAnUnboundSessionWasKilled(t *testing.T) {
	ctx := context.Background()
	path, opts := h213Store(t)
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Latest(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	killed := crashCopy(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := opts
	ro.ReadOnly = true
	r, err := Open(killed, ro)
	if err != nil {
		t.Fatalf("read-only Open after an unbound session's kill: %v", err)
	}
	snap, err := r.Latest(ctx, "t1")
	if err != nil || snap.CheckpointID != before.CheckpointID {
		t.Fatalf("read-only Latest = %v, %v; want %s", snap, err, before.CheckpointID)
	}
	rep, err := r.Verify(ctx, VerifyOptions{})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("read-only Verify: %v %+v", err, rep)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := Open(killed, opts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.Save(ctx, "t1", map[string]any{"n": 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h213Latest(t, killed, opts, id)
}

// TestH215FirstCommitOfAStoreOpenedFromABackup: a Backup's file holds its
// newest transaction N in meta page 0 and N-1 in page 1; with N odd the
// session's first commit (now the binding, made by the first write) writes
// the page the overwrite watch recorded. Sixteen Sync writers as the
// session's first writes, both parities of N: none may be told the file
// was overwritten, and every acknowledged write is there after a kill and
// a Close.
func TestH215FirstCommitOfAStoreOpenedFromABackup(t *testing.T) {
	// Parallel: it waits on fsyncs and children far more than it computes
	// (under half a core), and as a serial test it held the whole package
	// back for its time (the serial tests run alone, before all others).
	t.Parallel()
	ctx := context.Background()
	var odd [2]bool // the parities of N met
	defer func() {
		if !t.Failed() && !odd[1] {
			t.Errorf("no backup held an odd newest transaction: the case was not tried")
		}
	}()
	for extra := range 2 {
		t.Run(fmt.Sprintf("extra=%d", extra), func(t *testing.T) {
			path, opts := h213Store(t)
			s, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range extra {
				if _, err := s.Save(ctx, "t2", map[string]any{"x": i}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			bpath := filepath.Join(t.TempDir(), "b.db")
			if err := s.BackupFile(ctx, bpath); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for round := range 4 {
				odd[h215Txid(t, bpath)%2] = true
				b, err := Open(bpath, opts)
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				ids := make([]string, 16)
				errs := make([]error, 16)
				for w := range 16 {
					wg.Go(func() {
						sctx := WithWriteOptions(ctx, WriteOptions{Durability: Sync})
						ids[w], errs[w] = b.Save(sctx, fmt.Sprintf("w%d", w), map[string]any{"r": round}, nil)
					})
				}
				wg.Wait()
				for w, err := range errs {
					if err != nil {
						t.Fatalf("round %d writer %d, a first write of a store opened from a backup: %v", round, w, err)
					}
				}
				killed := crashCopy(t, b)
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{killed, bpath} {
					c, err := Open(p, opts)
					if err != nil {
						t.Fatal(err)
					}
					for w, id := range ids {
						snap, err := c.Latest(ctx, fmt.Sprintf("w%d", w))
						if err != nil || snap.CheckpointID != id {
							t.Fatalf("round %d: Latest(w%d) = %v, %v; want %s", round, w, snap, err, id)
						}
					}
					if err := c.Close(); err != nil {
						t.Fatal(err)
					}
				}
				// A fresh backup for the next round (its N moves on).
				c, err := Open(bpath, opts)
				if err != nil {
					t.Fatal(err)
				}
				nb := filepath.Join(t.TempDir(), "b.db")
				if err := c.BackupFile(ctx, nb); err != nil {
					t.Fatal(err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				bpath = nb
			}
		})
	}
}

// h215ChildEnv names the store a child of TestH215KillAtEachStepOfTheFirstWrite
// writes (H215Child); h215PointEnv is "<point> <durability>".
const (
	h215ChildEnv = "CKPT_H215_CHILD"
	h215PointEnv = "CKPT_H215_POINT"
)

// H215Child is the child of TestH215KillAtEachStepOfTheFirstWrite: it
// opens the store at CKPT_H215_CHILD, four writers each save five
// checkpoints with the durability asked (Async and NoSync then Flush),
// printing "A <thread> <id>" for each acknowledged one (Async: after the
// Flush that covers it), and it kills itself (SIGKILL) at the point asked
// of the session's first write: before or after the binding commit (the
// session's first bbolt commit), before or after the first fsync of the
// log after it (its first Append written). A point never met: it exits
// without closing, as a kill would.
func H215Child() int {
	ctx := context.Background()
	path := os.Getenv(h215ChildEnv)
	var point, dur string
	fmt.Sscan(os.Getenv(h215PointEnv), &point, &dur)
	kill := func() { // SIGKILL on Unix
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
		}
		select {}
	}
	opts := h213Held(Options{Encryption: &Encryption{Keys: []Key{h213Key()}}})
	var commits atomic.Int64
	var bound atomic.Bool
	opts.tuning.hooks.CommitBind = func(tx *bolt.Tx) error {
		first := commits.Add(1) == 1
		if first && point == "bind-before" {
			kill()
		}
		err := tx.Commit()
		if first {
			bound.Store(true)
			if point == "bind-after" {
				kill()
			}
		}
		return err
	}
	var syncs atomic.Int64
	opts.tuning.hooks.SyncLog = func(f *os.File) error {
		n := int64(0)
		if bound.Load() {
			n = syncs.Add(1)
		}
		if n == 1 && point == "sync-before" || n == 3 && point == "sync-before-3" {
			kill()
		}
		err := f.Sync()
		if n == 1 && point == "sync-after" || n == 3 && point == "sync-after-3" {
			kill()
		}
		return err
	}
	s, err := Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	d := map[string]Durability{"sync": Sync, "async": Async, "nosync": NoSync}[dur]
	wctx := WithWriteOptions(ctx, WriteOptions{Durability: d})
	var mu sync.Mutex
	var pending []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			th := fmt.Sprintf("k%d", w)
			for i := range 5 {
				id, err := s.Save(wctx, th, map[string]any{"i": i}, nil)
				if err != nil {
					fmt.Fprintln(os.Stderr, "save:", err)
					return
				}
				mu.Lock()
				if d == Async {
					pending = append(pending, "A "+th+" "+id+"\n")
				} else {
					os.Stdout.WriteString("A " + th + " " + id + "\n")
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := s.Flush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "flush:", err)
		return 3
	}
	for _, l := range pending {
		os.Stdout.WriteString(l)
	}
	return 0 // no Close: the files as a kill leaves them
}

// TestH215KillAtEachStepOfTheFirstWrite: a session that opened a healthy
// store (its log unbound) is killed (SIGKILL) at each step of its first
// write: before and after the binding commit, after the first Append (its
// fsync not done), after that fsync; with Sync, Async and NoSync writers.
// The reopen must open (nothing refused), Verify must find nothing wrong,
// and every acknowledged checkpoint must be there.
func TestH215KillAtEachStepOfTheFirstWrite(t *testing.T) {
	// Parallel: it waits on fsyncs and children far more than it computes
	// (under half a core), and as a serial test it held the whole package
	// back for its time (the serial tests run alone, before all others).
	t.Parallel()
	ctx := context.Background()
	for _, dur := range []string{"sync", "async", "nosync"} {
		for _, point := range []string{"bind-before", "bind-after", "sync-before", "sync-after", "sync-before-3", "sync-after-3"} {
			t.Run(dur+"/"+point, func(t *testing.T) {
				path, opts := h213Store(t)
				before, err := Open(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				head, err := before.Latest(ctx, "t1")
				if err != nil {
					t.Fatal(err)
				}
				if err := before.Close(); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(testchild.Binary(), "-test.run=^$")
				cmd.Env = ChildEnvForTest(h215ChildEnv+"="+path, h215PointEnv+"="+point+" "+dur)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, cerr := cmd.Output()
				how := "exited"
				if ee, ok := errors.AsType[*exec.ExitError](cerr); ok && !ee.Exited() {
					how = "killed"
				} else if cerr != nil {
					t.Fatalf("child: %v: %s", cerr, stderr.String())
				}
				if strings.Contains(stderr.String(), "open:") || strings.Contains(stderr.String(), "save:") || strings.Contains(stderr.String(), "flush:") {
					t.Fatalf("child: %s", stderr.String())
				}
				acked := strings.Fields(string(out))
				s, err := Open(path, opts)
				if err != nil {
					t.Fatalf("reopen after a kill at %s (%s): %v", point, dur, err)
				}
				defer s.Close()
				for i := 0; i+2 < len(acked); i += 3 {
					if _, err := s.Load(ctx, acked[i+1], acked[i+2]); err != nil {
						t.Errorf("acknowledged %s %s lost: %v", acked[i+1], acked[i+2], err)
					}
				}
				snap, err := s.Latest(ctx, "t1")
				if err != nil || snap.CheckpointID != head.CheckpointID {
					t.Fatalf("Latest(t1) = %v, %v; want %s", snap, err, head.CheckpointID)
				}
				rep, err := s.Verify(ctx, VerifyOptions{})
				if err != nil || len(rep.Problems) > 0 {
					t.Fatalf("Verify: %v %+v", err, rep)
				}
				id, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				h213Latest(t, path, opts, id)
				t.Logf("%s/%s: %s, %d acknowledged", dur, point, how, len(acked)/3)
			})
		}
	}
}

// TestH215FirstOperationsH213DidNotTry: Prune (both strategies), Export,
// Import of another store's dump, and ImportFile into the closed file, as
// the first operation of a session (on a clean store and after an unbound
// session's kill), then a write that must survive a kill and a Close.
func TestH215FirstOperationsH213DidNotTry(t *testing.T) {
	// Parallel: it waits on fsyncs and children far more than it computes
	// (under half a core), and as a serial test it held the whole package
	// back for its time (the serial tests run alone, before all others).
	t.Parallel()
	ctx := context.Background()
	var dump bytes.Buffer
	{
		o, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Save(ctx, "imp", map[string]any{"v": 1}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Export(ctx, &dump, ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ops := []struct {
		name string
		run  func(t *testing.T, s *Store) error
	}{
		{"prune-keep", func(t *testing.T, s *Store) error { return s.Prune(ctx, []string{"t2"}, PruneKeepLatest) }},
		{"prune-delete", func(t *testing.T, s *Store) error { return s.Prune(ctx, []string{"t2"}, PruneDelete) }},
		{"prune-none", func(t *testing.T, s *Store) error { return s.Prune(ctx, []string{"nope"}, PruneDelete) }},
		{"export", func(t *testing.T, s *Store) error { _, err := s.Export(ctx, io.Discard, ExportOptions{}); return err }},
		{"import", func(t *testing.T, s *Store) error {
			_, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ImportOptions{})
			return err
		}},
		{"import-file", nil},
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
				if op.run == nil {
					if _, err := ImportFile(ctx, path, bytes.NewReader(dump.Bytes()), opts, ImportOptions{}); err != nil {
						t.Fatalf("ImportFile into the file: %v", err)
					}
				}
				s, err := Open(path, h213Held(opts))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if op.run != nil {
					if err := op.run(t, s); err != nil {
						t.Fatalf("%s as the first operation: %v", op.name, err)
					}
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

// h215Txid is the newest transaction of the bbolt file at path.
func h215Txid(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	return tx.ID()
}

// TestH215FirstWriteInsideARead: the first write of a session made while
// the writer's own read is open (a Save inside a History loop, the usual
// "read the thread, write the next step"). The binding commit is the
// session's first commit and the write waits for it: had it to grow
// bbolt's map, it would wait for every read transaction to end, the open
// read's among them, whose loop waits for the Save. Each round adds a
// checkpoint and compacts (no free pages), so the file's size sweeps past
// bbolt's own map sizes (InitialMmapSize 1: powers of two, as on Windows;
// 65,536 bytes is met exactly). It held on 45ef5bc, presumably because
// the file's growth step (engine.GrowStep) leaves room past the data, so
// the binding's few pages did not reach the map's end in any round.
func TestH215FirstWriteInsideARead(t *testing.T) {
	// Parallel: it waits on fsyncs and children far more than it computes
	// (under half a core), and as a serial test it held the whole package
	// back for its time (the serial tests run alone, before all others).
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	// bbolt's own map size (a power of two at least the file: what
	// Windows and 32-bit platforms get, engine.MmapSize).
	opts := Options{Bolt: &bolt.Options{InitialMmapSize: 1}}
	for round := range 48 {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "grow", map[string]any{"pad": bytes.Repeat([]byte{byte(round)}, 3000)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		var id string
		go func() {
			for _, err := range s.History(ctx, "grow", ListOptions{}) {
				if err != nil {
					done <- err
					return
				}
				var serr error
				id, serr = s.Save(ctx, "next", map[string]any{"r": round}, nil)
				done <- serr
				return
			}
			done <- errors.New("no history")
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: a Save inside a History loop: %v", round, err)
			}
		case <-time.After(h213Hang):
			t.Fatalf("round %d: the session's first write, made inside a History loop, hung (file %d bytes)", round, h215Size(path))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		h215Has(t, path, opts, "next", id)
	}
}

func h215Size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// h215Has checks that thread th's newest checkpoint in the store at path
// is id.
func h215Has(t *testing.T, path string, opts Options, th, id string) {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Latest(context.Background(), th)
	if err != nil || snap.CheckpointID != id {
		t.Fatalf("Latest(%s) = %v, %v; want %s", th, snap, err, id)
	}
}

// TestH215ReadOnlyBesideAnUnboundWriter: a read-only Open while a
// read-write session that wrote nothing (its log unbound) holds the file
// fails with ErrLocked, as beside a bound one, and leaves the writer's
// files alone: its first write after that binds and is kept.
func TestH215ReadOnlyBesideAnUnboundWriter(t *testing.T) {
	ctx := context.Background()
	path, opts := h213Store(t)
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ro := opts
	ro.ReadOnly = true
	ro.LockTimeout = 50 * time.Millisecond
	if r, err := Open(path, ro); !errors.Is(err, ErrLocked) {
		if err == nil {
			r.Close()
		}
		t.Fatalf("read-only Open beside an unbound writer: %v; want ErrLocked", err)
	}
	id, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h213KeptAfterKillAndClose(t, s, path, opts, id)
}

// TestH215AsyncFirstWriteOnFullDiskFlushReports: the session's first
// writes are Async and their binding finds no room: the writes were
// acknowledged when queued, so the Flush after them must report
// ErrDiskFull, and none of them shows up, after a kill or a Close; the
// next Async writes bind and are kept.
func TestH215AsyncFirstWriteOnFullDiskFlushReports(t *testing.T) {
	ctx := context.Background()
	path, opts := h213Store(t)
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Latest(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// No room for any commit until the Flush has reported: the Async
	// writes may make more than one group, each binding in turn.
	var noRoom atomic.Bool
	noRoom.Store(true)
	full := h213Held(opts)
	full.tuning.hooks.CommitBind = func(tx *bolt.Tx) error {
		if noRoom.Load() {
			_ = tx.Rollback()
			return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return tx.Commit()
	}
	s, err = Open(path, full)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	actx := WithWriteOptions(ctx, WriteOptions{Durability: Async})
	for i := range 3 {
		if _, err := s.Save(actx, "t1", map[string]any{"n": 10 + i}, nil); err != nil {
			t.Fatalf("Async write %d: %v", i, err)
		}
	}
	if err := s.Flush(ctx); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Flush after Async writes whose binding found no room: %v; want ErrDiskFull", err)
	}
	h213Latest(t, crashCopy(t, s), opts, before.CheckpointID)
	noRoom.Store(false)
	var id string
	for i := range 3 {
		if id, err = s.Save(actx, "t1", map[string]any{"n": 20 + i}, nil); err != nil {
			t.Fatalf("Async write after the full disk %d: %v", i, err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush after the full disk: %v", err)
	}
	h213KeptAfterKillAndClose(t, s, path, opts, id)
}
