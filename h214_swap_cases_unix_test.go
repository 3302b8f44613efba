//go:build unix

package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// markedStore makes a store at a new path whose last Compact's directory
// fsync failed (the file carries meta/swap-unsynced) and returns its path
// and the ids saved before, under opts (its tuning replaced).
func markedStore(t *testing.T, opts Options) (string, []string) {
	t.Helper()
	ctx := context.Background()
	f := newSwapFault()
	opts.tuning = f.tuning()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		id, err := s.Save(ctx, "t", map[string]any{"v": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	f.fail.Store(true)
	if _, err := s.Compact(ctx, nil); !errors.Is(err, f.boom) {
		t.Fatalf("Compact with a failed directory fsync = %v, want its cause", err)
	}
	_ = s.Close()
	if !fileHasSwapMark(t, path) {
		t.Fatal("the failed Compact left no swap mark in the file")
	}
	return path, ids
}

// fileHasSwapMark reads meta/swap-unsynced with bbolt alone, read-only.
func fileHasSwapMark(t *testing.T, path string) bool {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var has bool
	if err := db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			has = b.Get(keySwapUnsynced) != nil
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return has
}

func loadAll(t *testing.T, s *Store, ids []string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.Load(context.Background(), "t", id); err != nil {
			t.Fatalf("Load %s: %v", id, err)
		}
	}
}

// TestSwapMarkSealedStore: an encrypted store's failed swap; the reopen
// (with its key) compacts, keeps every checkpoint, and Verify passes.
func TestSwapMarkSealedStore(t *testing.T) {
	t.Parallel()
	enc := &Encryption{Keys: []Key{{ID: 1, Secret: [32]byte{1, 2, 3}}}}
	for _, nowal := range []bool{false, true} {
		path, ids := markedStore(t, Options{NoWAL: nowal, Encryption: enc})
		s, err := Open(path, Options{NoWAL: nowal, Encryption: enc})
		if err != nil {
			t.Fatalf("nowal %v: reopen: %v", nowal, err)
		}
		if fileHasSwapMarkOpen(s) {
			t.Errorf("nowal %v: the reopen left the mark", nowal)
		}
		loadAll(t, s, ids)
		rep, err := s.Verify(context.Background(), VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Errorf("nowal %v: Verify: %v %v", nowal, err, rep)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func fileHasSwapMarkOpen(s *Store) bool { return s.eng.SwapUnsynced() }

// TestSwapMarkReadOnlyUses: a marked file opened read-only: Verify finds
// no problem, Backup and BackupFile copy it, and the copies open
// read-write (compacting at their own path) with every checkpoint; the
// marked file itself is unchanged throughout.
func TestSwapMarkReadOnlyUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		path, ids := markedStore(t, Options{NoWAL: nowal})
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{NoWAL: nowal, ReadOnly: true})
		if err != nil {
			t.Fatalf("nowal %v: read-only Open: %v", nowal, err)
		}
		loadAll(t, s, ids)
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Errorf("nowal %v: Verify of a marked file: %v %v", nowal, err, rep)
		}
		dir := t.TempDir()
		bf := filepath.Join(dir, "bf.db")
		if err := s.BackupFile(ctx, bf); err != nil {
			t.Fatalf("nowal %v: BackupFile: %v", nowal, err)
		}
		var buf bytes.Buffer
		if err := s.Backup(ctx, &buf); err != nil {
			t.Fatalf("nowal %v: Backup: %v", nowal, err)
		}
		var dump bytes.Buffer
		if _, err := s.Export(ctx, &dump, ExportOptions{}); err != nil {
			t.Fatalf("nowal %v: Export: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("nowal %v: read-only uses changed the marked file", nowal)
		}
		bw := filepath.Join(dir, "bw.db")
		if err := os.WriteFile(bw, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, copyPath := range []string{bf, bw} {
			c, err := Open(copyPath, Options{NoWAL: nowal})
			if err != nil {
				t.Fatalf("nowal %v: Open of the copy %s: %v", nowal, filepath.Base(copyPath), err)
			}
			loadAll(t, c, ids)
			if c.eng.SwapUnsynced() {
				t.Errorf("nowal %v: copy %s still marked after a read-write Open", nowal, filepath.Base(copyPath))
			}
			if _, err := c.Save(ctx, "t", map[string]any{"v": 9}, nil); err != nil {
				t.Errorf("nowal %v: Save in copy: %v", nowal, err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
		imp := filepath.Join(dir, "imp.db")
		if _, err := ImportFile(ctx, imp, &dump, Options{NoWAL: nowal}, ImportOptions{}); err != nil {
			t.Fatalf("nowal %v: ImportFile of the export: %v", nowal, err)
		}
		if fileHasSwapMark(t, imp) {
			t.Errorf("nowal %v: the import carries the swap mark", nowal)
		}
	}
}

// TestSwapMarkRecompactionDiskFull: the reopen's compaction finds no room
// for its new file: Open fails with ErrDiskFull (and says why it
// compacted), the file keeps its mark and every checkpoint, and once
// there is room the next Open compacts and opens.
func TestSwapMarkRecompactionDiskFull(t *testing.T) {
	t.Parallel()
	for _, nowal := range []bool{false, true} {
		path, ids := markedStore(t, Options{NoWAL: nowal})
		var full atomic.Bool
		full.Store(true)
		bo := &bolt.Options{OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if full.Load() && strings.HasSuffix(name, ".compact") {
				return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
			}
			return os.OpenFile(name, flag, perm)
		}}
		s, err := Open(path, Options{NoWAL: nowal, Bolt: bo})
		if err == nil {
			_ = s.Close()
			t.Fatalf("nowal %v: Open with no room for its compaction succeeded", nowal)
		}
		if !errors.Is(err, ErrDiskFull) {
			t.Errorf("nowal %v: Open with no room for its compaction = %v, want ErrDiskFull", nowal, err)
		}
		if errors.Is(err, ErrFailed) || errors.Is(err, ErrCorrupt) {
			t.Errorf("nowal %v: Open with no room = %v: not a failure of the store or damage", nowal, err)
		}
		if !fileHasSwapMark(t, path) {
			t.Errorf("nowal %v: the mark is gone after a failed recompaction", nowal)
		}
		if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("nowal %v: leftover compaction file: %v", nowal, err)
		}
		r, err := Open(path, Options{NoWAL: nowal, ReadOnly: true})
		if err != nil {
			t.Fatalf("nowal %v: read-only Open after the failed recompaction: %v", nowal, err)
		}
		loadAll(t, r, ids)
		_ = r.Close()
		full.Store(false)
		s, err = Open(path, Options{NoWAL: nowal, Bolt: bo})
		if err != nil {
			t.Fatalf("nowal %v: Open with room: %v", nowal, err)
		}
		loadAll(t, s, ids)
		if s.eng.SwapUnsynced() {
			t.Errorf("nowal %v: still marked", nowal)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSwapMarkRecoverLogThenOpen: RecoverLog on a marked file keeps the
// mark (it does not compact), and the Open after it compacts.
func TestSwapMarkRecoverLogThenOpen(t *testing.T) {
	t.Parallel()
	path, ids := markedStore(t, Options{})
	if _, err := RecoverLog(path, Options{}); err != nil {
		t.Fatalf("RecoverLog of a marked file: %v", err)
	}
	if !fileHasSwapMark(t, path) {
		t.Error("RecoverLog dropped the mark without compacting")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	loadAll(t, s, ids)
	if s.eng.SwapUnsynced() {
		t.Error("still marked")
	}
	_ = s.Close()
}

// TestSwapMarkOptions: the reopen's compaction under options that change
// how the store writes: Durability NoSync, bbolt's NoSync, another page
// size asked for, and a sweep interval.
func TestSwapMarkOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := map[string]Options{
		"durability-nosync": {Durability: NoSync},
		"bolt-nosync":       {Bolt: &bolt.Options{NoSync: true}},
		"pagesize":          {Bolt: &bolt.Options{PageSize: 16384}},
		"async":             {Durability: Async},
	}
	for name, o := range cases {
		for _, nowal := range []bool{false, true} {
			o := o
			o.NoWAL = nowal
			path, ids := markedStore(t, o)
			s, err := Open(path, o)
			if err != nil {
				t.Fatalf("%s nowal %v: reopen: %v", name, nowal, err)
			}
			loadAll(t, s, ids)
			if s.eng.SwapUnsynced() {
				t.Errorf("%s nowal %v: still marked", name, nowal)
			}
			id, err := s.Save(ctx, "t", map[string]any{"v": 7}, nil)
			if err != nil {
				t.Fatalf("%s nowal %v: Save: %v", name, nowal, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(path, o)
			if err != nil {
				t.Fatalf("%s nowal %v: reopen 2: %v", name, nowal, err)
			}
			loadAll(t, s, append(ids, id))
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("%s nowal %v: Verify: %v %v", name, nowal, err, rep)
			}
			_ = s.Close()
		}
	}
}

// TestSwapMarkWriteFailsAfterDirSync: the directory's fsync after
// Compact's rename fails, and so does the write that would mark the new
// file (the same failing disk: here the new file's descriptor stops
// taking writes right at the directory fsync). The rename is as much in
// doubt as with the mark written, so the next read-write Open must still
// put a new file in place under a new rename before it acknowledges
// anything: a file the failed Compact renamed into place must not be
// written on.
func TestSwapMarkWriteFailsAfterDirSync(t *testing.T) {
	// Not parallel: the descriptors of the process are looked through
	// (no other test opens or closes files meanwhile).
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		f := newSwapFault()
		path := filepath.Join(t.TempDir(), "s.db")
		tune := &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
			if !f.fail.Load() {
				return engine.SyncDir(dir)
			}
			if err := stopWrites(path); err != nil {
				return err
			}
			return f.boom
		}}}
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.fail.Store(true)
		if _, err := s.Compact(ctx, nil); !errors.Is(err, f.boom) {
			t.Fatalf("nowal %v: Compact with a failed directory fsync = %v, want its cause", nowal, err)
		}
		_ = s.Close()
		f.fail.Store(false)
		held, err := os.Open(path) // held open: its inode is not reused
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = held.Close() })
		swapped, err := held.Stat()
		if err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatalf("nowal %v: reopen: %v", nowal, err)
		}
		now, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(swapped, now) {
			t.Errorf("nowal %v: the reopen writes on the file a compaction with a failed directory fsync renamed into place (its mark's write failed)", nowal)
		}
		if _, err := s.Load(ctx, "t", id); err != nil {
			t.Errorf("nowal %v: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// stopWrites makes every descriptor of this process on the file at path
// one that takes no writes (a read-only /dev/null dup2'd over it: the
// number is not freed, so nothing else can get it meanwhile).
func stopWrites(path string) error {
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	n := 0
	for fd := 3; fd < 4096; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Dev != want.Dev || st.Ino != want.Ino {
			continue
		}
		if err := unix.Dup2(int(null.Fd()), fd); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("stopWrites: no descriptor on the new file")
	}
	return nil
}

// TestSwapMarkClearFails: the directory's fsync after the rename succeeds,
// but the commit that clears the new file's mark fails (the file takes no
// more writes): the store fails (ErrFailed, the cause said), and the next
// Open, finding the mark, compacts once more and keeps every checkpoint.
func TestSwapMarkClearFails(t *testing.T) {
	// Not parallel: stopWrites looks through the process's descriptors.
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		var stop atomic.Bool
		path := filepath.Join(t.TempDir(), "s.db")
		tune := &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
			if err := engine.SyncDir(dir); err != nil || !stop.Load() {
				return err
			}
			return stopWrites(path)
		}}}
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		if _, err := s.Compact(ctx, nil); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "clear") {
			t.Fatalf("nowal %v: Compact whose mark's clear failed = %v, want ErrFailed saying so", nowal, err)
		}
		_ = s.Close()
		if !fileHasSwapMark(t, path) {
			t.Fatalf("nowal %v: no mark after a failed clear", nowal)
		}
		s, err = Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatalf("nowal %v: reopen: %v", nowal, err)
		}
		if s.eng.SwapUnsynced() {
			t.Errorf("nowal %v: the reopen left the mark", nowal)
		}
		if _, err := s.Load(ctx, "t", id); err != nil {
			t.Errorf("nowal %v: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSwapMarkLogHeldGroups: the applier never runs (the log holds every
// group until a solo op applies it), saves of each durability precede the
// failed Compact, and Async saves race it; the reopen replays what the log
// holds, compacts, and every save acknowledged before the Compact is
// there. After a second reopen too.
func TestSwapMarkLogHeldGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newSwapFault()
	tune := f.tuning()
	tune.hooks.HoldApplier = true
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: tune, Durability: Async})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 20 {
		id, err := s.Save(ctx, "t", map[string]any{"v": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	f.fail.Store(true)
	done := make(chan []string)
	go func() {
		var late []string
		for i := range 50 {
			id, err := s.Save(ctx, "late", map[string]any{"v": i}, nil)
			if err != nil {
				break
			}
			late = append(late, id)
		}
		done <- late
	}()
	if _, err := s.Compact(ctx, nil); !errors.Is(err, f.boom) {
		t.Fatalf("Compact = %v", err)
	}
	late := <-done
	// Async saves the failure dropped are reported by Flush.
	if ferr := s.Flush(ctx); len(late) > 0 && !errors.Is(ferr, ErrFailed) {
		t.Errorf("Flush after the failed Compact = %v, want ErrFailed (%d late Async saves returned nil)", ferr, len(late))
	}
	_ = s.Close()
	f.fail.Store(false)
	for round := range 2 {
		s, err = Open(path, Options{tuning: tune})
		if err != nil {
			t.Fatalf("reopen %d: %v", round, err)
		}
		if s.eng.SwapUnsynced() {
			t.Errorf("reopen %d: still marked", round)
		}
		loadAll(t, s, ids)
		// A late save acknowledged (Async: before it was durable) and
		// logged before the store failed is replayed; one the failure
		// cut off was never acknowledged. Count what came back.
		n := 0
		for _, id := range late {
			if _, err := s.Load(ctx, "late", id); err == nil {
				n++
			}
		}
		t.Logf("reopen %d: %d late Async saves returned nil, %d of them loaded", round, len(late), n)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
