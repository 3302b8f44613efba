//go:build linux

package powerfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// TestPowerCutNewStoreWAL: a new store with the log, three Sync saves,
// Close.
func TestPowerCutNewStoreWAL(t *testing.T) {
	t.Parallel()
	threeSyncSaves(t, ckpt.Options{}, nil)
}

// TestPowerCutNewStoreNoWAL: a new store without the log, a few Sync
// writes. The first one's acknowledgement needs s.db's directory entry
// durable: bbolt creates the file and never fsyncs the directory.
func TestPowerCutNewStoreNoWAL(t *testing.T) {
	t.Parallel()
	threeSyncSaves(t, ckpt.Options{NoWAL: true}, nil)
}

// TestPowerCutNoWALOpenAfterAKilledCreate: a process killed inside its
// first Open, after bbolt made the file and before the directory's fsync
// (bbolt.Open alone does that much), then a NoWAL Open of that file and
// Sync writes. The file existed, so that Open made nothing: its writes'
// acknowledgements still need the file's directory entry durable.
func TestPowerCutNoWALOpenAfterAKilledCreate(t *testing.T) {
	t.Parallel()
	threeSyncSaves(t, ckpt.Options{NoWAL: true}, func(l *life) {
		db, err := bolt.Open(l.path("s.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// threeSyncSaves runs before (if set), then Open with opts, three Sync
// saves and Close, and checks the images a power cut could leave.
func threeSyncSaves(t *testing.T, opts ckpt.Options, before func(*life)) {
	l := run(t, opts, func(l *life) {
		if before != nil {
			before(l)
		}
		l.open(opts)
		for range 3 {
			l.save("a", ckpt.Sync, 10)
		}
		l.close()
	})
	if l != nil {
		l.check(1, 5)
	}
}

// TestPowerCutAfterCompact: Sync writes after a Compact, applied to the
// new file, then a write that starts the log's next pass (a Compact has
// the log cut back there). The applied writes are then in bbolt alone,
// so its commit must have been fsync'd.
func TestPowerCutAfterCompact(t *testing.T) {
	t.Parallel()
	opts := ckpt.Options{}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		l.save("a", ckpt.Sync, 10)
		l.do("Compact", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
		l.save("a", ckpt.Sync, 10)
		l.do("ApplyLog", func(ctx context.Context, s *ckpt.Store) error { return s.ApplyLog(ctx) })
		l.save("b", ckpt.Sync, 10)
		l.save("b", ckpt.Sync, 10)
		l.close()
	})
	if l != nil {
		l.check(5, 5)
	}
}

// TestPowerCutNoSyncNoWAL: without the log, Sync saves, then NoSync
// ones. A power cut may take the NoSync writes, never the Sync ones
// before them, nor leave a file Open refuses.
func TestPowerCutNoSyncNoWAL(t *testing.T) {
	t.Parallel()
	opts := ckpt.Options{NoWAL: true}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		for range 2 {
			l.save("a", ckpt.Sync, 10)
		}
		for range 4 {
			l.save("a", ckpt.NoSync, 10)
		}
		l.save("a", ckpt.Sync, 10)
		l.close()
	})
	if l != nil {
		l.check(6, 10)
	}
}

// lifeOf runs the store's life through the mount: every kind of write,
// ApplyLog, Close (the log removed) and reopen, Compact, GC, BackupFile
// into the same directory, Export and ImportFile beside it, and, sealed,
// a rekey under a new key; checked at every mark.
func lifeOf(t *testing.T, opts ckpt.Options, sealed bool, seed uint64) {
	check := opts
	if sealed {
		opts.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{key(1)}}
		// Images are opened knowing both keys: a rekey may or may not
		// have reached them.
		check.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{key(2), key(1)}}
	}
	l := run(t, check, func(l *life) { lifeSteps(l, opts, sealed) })
	if l != nil {
		l.check(seed, 3)
	}
}

func lifeSteps(l *life, opts ckpt.Options, sealed bool) {
	l.open(opts)
	for i := range 4 {
		l.save([]string{"a", "b"}[i%2], ckpt.Sync, 100*i)
	}
	for range 3 {
		l.save("c", ckpt.Async, 300)
	}
	l.flush()
	for range 2 {
		l.save("d", ckpt.NoSync, 50)
	}
	l.do("ApplyLog", func(ctx context.Context, s *ckpt.Store) error { return s.ApplyLog(ctx) })
	l.save("a", ckpt.Sync, 5000)
	l.save("e", ckpt.Sync, 20)
	l.close()
	l.open(opts)
	l.save("b", ckpt.Sync, 10)
	l.save("f", ckpt.Async, 10)
	l.do("Compact", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
	l.vouch() // Compact waited for the Async write and applied it
	l.save("a", ckpt.Sync, 10)
	l.gcKeepLast()
	l.save("g", ckpt.Sync, 10)
	l.do("BackupFile", func(ctx context.Context, s *ckpt.Store) error { return s.BackupFile(ctx, l.path("backup.db")) })
	l.copyAcks("backup.db")
	var dump bytes.Buffer
	l.do("Export", func(ctx context.Context, s *ckpt.Store) error {
		_, err := s.Export(ctx, &dump, ckpt.ExportOptions{})
		return err
	})
	l.save("h", ckpt.Sync, 10)
	l.close()
	l.do("ImportFile", func(ctx context.Context, _ *ckpt.Store) error {
		_, err := ckpt.ImportFile(ctx, l.path("imp.db"), &dump, opts, ckpt.ImportOptions{})
		return err
	})
	for _, a := range l.Acks {
		if a.File == "s.db" && a.Thread != "h" && a.From != 0 && a.Until == 0 {
			c := *a
			c.File, c.From = "imp.db", l.Mark
			l.Acks = append(l.Acks, &c)
		}
	}
	if sealed {
		opts.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{key(2), key(1)}}
		l.open(opts)
		l.do("Rekey", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Rekey(ctx); return err })
		l.save("a", ckpt.Sync, 10)
		l.close()
	}
	l.open(opts)
	l.save("i", ckpt.Sync, 10)
	l.close()
}

func TestPowerCutLifeWAL(t *testing.T) {
	t.Parallel()
	lifeOf(t, ckpt.Options{}, false, 2)
}

func TestPowerCutLifeNoWAL(t *testing.T) {
	t.Parallel()
	lifeOf(t, ckpt.Options{NoWAL: true}, false, 3)
}

func TestPowerCutLifeSealed(t *testing.T) {
	t.Parallel()
	lifeOf(t, ckpt.Options{}, true, 4)
}

// TestPowerCutLogRewind: the log's passes. Sync saves of 1 MB each:
// the applier keeps up, and each time bbolt holds all of the log the next
// record starts again from its beginning, over the earlier pass. Then one
// save of 80 MB grows the log past its 64 MB bound (plus two 4 MB steps):
// the next pass cuts the log back to its header first. Every mark is
// checked; the last ones hold an 80 MB log.
func TestPowerCutLogRewind(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("writes 100 MB through FUSE")
	}
	opts := ckpt.Options{}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		for range 20 {
			l.save("a", ckpt.Sync, 1<<20)
		}
		l.Info["big"] = l.Mark + 1
		l.save("b", ckpt.Sync, 80<<20)
		for range 3 {
			l.save("c", ckpt.Sync, 10)
		}
		l.close()
	})
	if l == nil {
		return
	}
	// The log's passes: writes over its first record (at 48), and cuts.
	logFile, passes, cuts := -1, 0, 0
	for _, o := range l.rec.Ops() {
		switch {
		case o.Kind == OpCreate && o.Name == "s.db-wal":
			logFile = o.File
		case o.Kind == OpWrite && o.File == logFile && o.Off <= 48 && o.Off+int64(len(o.Data)) >= 48+24:
			passes++
		case o.Kind == OpTruncate && o.File == logFile && o.Size < 4096:
			cuts++
		}
	}
	t.Logf("%d passes of the log, %d cuts back to its header", passes, cuts)
	if passes < 3 || cuts < 1 {
		t.Fatalf("the log never went over an earlier pass, or was never cut back: %d passes, %d cuts", passes, cuts)
	}
	big := l.Info["big"]
	var small, large []int
	for _, m := range l.Marks {
		if m < big {
			small = append(small, m)
		} else {
			large = append(large, m)
		}
	}
	l.checkMarks(7, 1, small)
	l.checkMarks(8, 1, large)
}

// TestPowerCutLogBackAfterClose: Close removes the log without an fsync
// of the directory, so a power cut may bring it back. Then the store is
// reopened without the log, written, and reopened with it: a log back
// from the dead must not be replayed over the later writes.
func TestPowerCutLogBackAfterClose(t *testing.T) {
	t.Parallel()
	opts := ckpt.Options{}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		for range 3 {
			l.save("a", ckpt.Sync, 10)
		}
		l.close()
		l.open(ckpt.Options{NoWAL: true})
		for range 2 {
			l.save("a", ckpt.Sync, 10)
		}
		l.close()
		l.open(opts)
		l.save("a", ckpt.Sync, 10)
		l.close()
	})
	if l != nil {
		l.check(9, 5)
	}
}

// TestPowerCutRecoverLog: a copy of a store with its log (taken while
// the store is idle, every write applied), its log damaged in its
// header (damage in records bbolt already holds is not RecoverLog's
// business), RecoverLog on it (the log renamed aside, the directory
// fsync'd): from then on the copy opens with every write.
func TestPowerCutRecoverLog(t *testing.T) {
	t.Parallel()
	opts := ckpt.Options{}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		for range 3 {
			l.save("a", ckpt.Sync, 10)
		}
		l.do("ApplyLog", func(ctx context.Context, s *ckpt.Store) error { return s.ApplyLog(ctx) })
		for _, name := range []string{"s.db", "s.db-wal"} {
			copyFile(l.t, l.path(name), l.path("c"+strings.TrimPrefix(name, "s")))
		}
		syncDir(l.t, l.dir)
		l.step("copied")
		f, err := os.OpenFile(l.path("c.db-wal"), os.O_RDWR, 0)
		if err != nil {
			l.t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, 20); err != nil {
			l.t.Fatal(err)
		}
		b[0] ^= 0x5a
		if _, err := f.WriteAt(b, 20); err != nil {
			l.t.Fatal(err)
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			l.t.Fatal(err)
		}
		l.step("damaged")
		st, err := ckpt.RecoverLog(l.path("c.db"), opts)
		if err != nil {
			l.t.Fatalf("RecoverLog: %v", err)
		}
		if !st.Damaged {
			l.t.Fatalf("RecoverLog found no damage: %+v", st)
		}
		for _, a := range l.Acks {
			if a.File == "s.db" {
				c := *a
				c.File, c.From = "c.db", l.Mark+1
				l.Acks = append(l.Acks, &c)
			}
		}
		l.step("RecoverLog")
		l.save("a", ckpt.Sync, 10)
		l.close()
	})
	if l == nil {
		return
	}
	moved := false
	for _, o := range l.rec.Ops() {
		moved = moved || o.Kind == OpRename && o.Name == "c.db-wal" && strings.HasPrefix(o.Name2, "c.db-wal.damaged-")
	}
	if !moved {
		var renames []string
		for _, o := range l.rec.Ops() {
			if o.Kind == OpRename || o.Kind == OpUnlink {
				renames = append(renames, o.String())
			}
		}
		t.Fatalf("RecoverLog did not move the damaged log aside: the hunt missed its rename: %v", renames)
	}
	l.check(10, 5)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestPowerCutBackupReplace: BackupFile twice to the same file beside
// the store: the first links its copy into place, the second finds the
// file there and renames its copy over it. At every point the backup
// holds every write the first one vouched for, and from the second's
// return those it vouched for.
func TestPowerCutBackupReplace(t *testing.T) {
	t.Parallel()
	opts := ckpt.Options{}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		l.save("a", ckpt.Sync, 10)
		backup := func(ctx context.Context, s *ckpt.Store) error { return s.BackupFile(ctx, l.path("backup.db")) }
		l.do("BackupFile", backup)
		l.copyAcks("backup.db")
		l.save("a", ckpt.Sync, 10)
		l.save("b", ckpt.Sync, 10)
		l.do("BackupFile again", backup)
		l.copyAcks("backup.db")
		l.close()
	})
	if l == nil {
		return
	}
	renamed := false
	for _, o := range l.rec.Ops() {
		renamed = renamed || o.Kind == OpRename && o.Name2 == "backup.db"
	}
	if !renamed {
		t.Fatal("the second BackupFile did not rename its copy over the first: the hunt missed that path")
	}
	l.check(11, 5)
}

// TestPowerCutConcurrentWriters: rounds of four writers saving at once
// (their groups share the log's fsyncs, the applier runs beside them),
// a Compact and a GC running beside the writers in two of the rounds;
// a mark after each round.
func TestPowerCutConcurrentWriters(t *testing.T) {
	t.Parallel()
	opts := ckpt.Options{}
	l := run(t, opts, func(l *life) {
		l.open(opts)
		for round := range 6 {
			var mu sync.Mutex
			var wg sync.WaitGroup
			var acks []*ack
			for w := range 4 {
				wg.Go(func() {
					for i := range 5 {
						thread := fmt.Sprintf("w%d", w)
						v := fmt.Sprintf("r%d w%d i%d %s", round, w, i, strings.Repeat("y", 100*i))
						id, err := l.s.Save(context.Background(), thread, map[string]any{"v": v}, nil)
						if err != nil {
							l.t.Errorf("Save: %v", err)
							return
						}
						mu.Lock()
						acks = append(acks, &ack{File: "s.db", Thread: thread, ID: id, Value: v})
						mu.Unlock()
					}
				})
			}
			switch round {
			case 2:
				if _, err := l.s.Compact(context.Background(), nil); err != nil {
					l.t.Fatalf("Compact: %v", err)
				}
			case 4:
				if _, err := l.s.GC(context.Background(), ckpt.Policy{KeepLast: 1000}); err != nil {
					l.t.Fatalf("GC: %v", err)
				}
			}
			wg.Wait()
			for _, a := range acks {
				a.From = l.Mark + 1
			}
			l.Acks = append(l.Acks, acks...)
			l.step(fmt.Sprintf("round %d", round))
		}
		l.close()
	})
	if l != nil {
		l.check(12, 5)
	}
}
