package ckpt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/internal/testchild"
	bolt "go.etcd.io/bbolt"
)

// The child of TestH178FailedStoreLifecycle: it opens the file
// h178ChildEnv names (NoWAL when h178NoWALEnv is set) in a process of its
// own and prints its dump (h178Dump) on one line after h178DumpPrefix.
const (
	h178ChildEnv   = "CKPT_H178_CHILD"
	h178NoWALEnv   = "CKPT_H178_NOWAL"
	h178DumpPrefix = "H178DUMP "
	h178Writers    = 3
	h178Saves      = 12
)

// h178Entry is one checkpoint of a dump: its id, the tag its metadata
// and its values carry (they must agree), and the writer its values name.
type h178Entry struct {
	ID, Tag, MetaTag string
	W, N             int
}

// h178Dump lists every writer's thread, newest first.
func h178Dump(s *Store) (map[string][]h178Entry, error) {
	ctx := context.Background()
	out := map[string][]h178Entry{}
	for w := range h178Writers {
		thread := fmt.Sprintf("w%d", w)
		for tp, err := range s.List(ctx, ListOptions{ThreadID: thread}) {
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", thread, err)
			}
			var e h178Entry
			e.ID, e.MetaTag = tp.Config.CheckpointID, fmt.Sprint(tp.Metadata["tag"])
			if err := errors.Join(tp.Decode("tag", &e.Tag), tp.Decode("w", &e.W), tp.Decode("n", &e.N)); err != nil {
				return nil, fmt.Errorf("decode %s in %s: %w", e.ID, thread, err)
			}
			out[thread] = append(out[thread], e)
		}
	}
	return out, nil
}

func TestH178ReopenChild(t *testing.T) {
	path := os.Getenv(h178ChildEnv)
	if path == "" {
		t.Skip("the child of TestH178FailedStoreLifecycle")
	}
	s, err := Open(path, Options{NoWAL: os.Getenv(h178NoWALEnv) != ""})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	d, err := h178Dump(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(h178DumpPrefix + string(b))
}

// h178ChildDump opens path in a new process (TestH178ReopenChild) and
// returns its dump.
func h178ChildDump(t *testing.T, path string, noWAL bool) map[string][]h178Entry {
	t.Helper()
	cmd := exec.Command(testchild.Binary(), "-test.run=^TestH178ReopenChild$", "-test.v")
	env := []string{h178ChildEnv + "=" + path}
	if noWAL {
		env = append(env, h178NoWALEnv+"=1")
	}
	cmd.Env = childEnv(env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), h178DumpPrefix); ok {
			var d map[string][]h178Entry
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("child printed no dump:\n%s\n%s", out, stderr.Bytes())
	return nil
}

// h178Outcomes is what the writers of a round were told.
type h178Outcomes struct {
	mu      sync.Mutex
	acked   map[string]bool   // Sync, NoSync: the call returned nil
	flushed map[string]bool   // Async: returned nil, and a Flush after it returned nil
	queued  map[string]string // Async: returned nil (tag -> the id it returned)
	failed  map[string]bool   // the call returned an error
	heard   []string          // OnAsyncError's errors
}

// h178Fault returns the hooks that fail the store at the failAt-th call
// of the log's fsync or of a bbolt commit after armed is set (once, or
// from then on), as h178FailHooks does.
func h178Fault(fault string, failAt int64, sticky bool, armed *atomic.Bool, calls *atomic.Int64) engine.Hooks {
	fail := func() bool {
		if !armed.Load() {
			return false
		}
		n := calls.Add(1)
		return n == failAt || (sticky && n > failAt)
	}
	switch fault {
	case "log fsync":
		return engine.Hooks{SyncLog: func(f *os.File) error {
			if fail() {
				return errH178Disk
			}
			return engine.Fdatasync(f)
		}}
	case "commit rolled back":
		return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail() {
				_ = tx.Rollback()
				return errH178Disk
			}
			return tx.Commit()
		}}
	}
	// "meta fsync": bbolt wrote everything, then its meta page's fsync
	// failed.
	return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
		err := tx.Commit()
		if fail() && err == nil {
			return errH178Disk
		}
		return err
	}}
}

// TestH178FailedStoreLifecycle hunts the promise across a failure's whole
// lifecycle. Three writers on threads of their own (Sync, NoSync, or
// Async with a Flush every three saves), with the log or NoWAL, while a
// fault hook fails the log's fsync or a bbolt commit (rolled back, or
// written and its meta fsync failed) at a seeded call, once or from then
// on; with the log, a fourth goroutine applies it now and then (ApplyLog),
// so that the applier's commits fail amid the writes too. Then, on a
// failed store: GC, Compact, Backup and BackupFile refuse with ErrFailed
// and change nothing (the dump, the directory); Close's error wraps
// ErrFailed (and is nil on a store that never failed), a second Close is
// ErrClosed. The closed files, copied, are reopened in a new process, and
// the originals in this one: both dumps are the same, and equal to what
// the failed store read before Close; every write acknowledged (Sync and
// NoSync returned nil, Async covered by a Flush that returned nil, or
// queued and never reported to OnAsyncError) is there, exact, in its own
// thread; none whose call returned an error, or that OnAsyncError named,
// is. The reopened store writes again.
func TestH178FailedStoreLifecycle(t *testing.T) {
	t.Parallel()
	type mode struct {
		dur   Durability
		noWAL bool
		fault string
	}
	var modes []mode
	for _, dur := range []Durability{Sync, NoSync, Async} {
		for _, fault := range []string{"log fsync", "commit rolled back", "meta fsync"} {
			modes = append(modes, mode{dur, false, fault})
			if fault != "log fsync" {
				modes = append(modes, mode{dur, true, fault})
			}
		}
	}
	seeds := 4 // CKPT_H178_SEEDS runs more, from CKPT_H178_SEED on
	if v, err := strconv.Atoi(os.Getenv("CKPT_H178_SEEDS")); err == nil && v > 0 {
		seeds = v
	}
	base := huntSeed("CKPT_H178_SEED", 0)
	var rounds, failedRounds atomic.Int64
	t.Cleanup(func() { t.Logf("%d rounds, %d of them failed the store", rounds.Load(), failedRounds.Load()) })
	for _, m := range modes {
		for seed := base; seed < base+uint64(seeds); seed++ {
			name := fmt.Sprintf("%v/nowal=%v/%s/seed%d", m.dur, m.noWAL, m.fault, seed)
			t.Run(name, func(t *testing.T) {
				if h178Round(t, seed, m.dur, m.noWAL, m.fault) {
					failedRounds.Add(1)
				}
				rounds.Add(1)
			})
		}
	}
}

// h178Round runs one round (TestH178FailedStoreLifecycle) and tells
// whether the store failed.
func h178Round(t *testing.T, seed uint64, dur Durability, noWAL bool, fault string) bool {
	rng := rand.New(rand.NewPCG(seed, uint64(dur)*7+uint64(len(fault))))
	// The fault is armed once armAt saves returned (0: from the start),
	// and fires at the failAt-th call after: amid the writes, or, when
	// none comes after them, in Close's own apply or fsync.
	armAt, failAt := int64(rng.IntN(h178Writers*h178Saves)), int64(1+rng.IntN(3))
	var armed atomic.Bool
	armed.Store(armAt == 0)
	var saves atomic.Int64
	sticky := rng.IntN(2) == 0
	var calls atomic.Int64
	o := &h178Outcomes{acked: map[string]bool{}, flushed: map[string]bool{}, queued: map[string]string{}, failed: map[string]bool{}}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.ckpt")
	s, err := Open(path, Options{NoWAL: noWAL, tuning: &tuning{hooks: h178Fault(fault, failAt, sticky, &armed, &calls)},
		OnAsyncError: func(err error) { o.mu.Lock(); o.heard = append(o.heard, err.Error()); o.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wctx := WithWriteOptions(ctx, WriteOptions{Durability: dur})
	var wg sync.WaitGroup
	for w := range h178Writers {
		wg.Go(func() {
			thread := fmt.Sprintf("w%d", w)
			var sinceFlush []string
			for n := range h178Saves {
				tag := fmt.Sprintf("%s/%d", thread, n)
				id, err := s.Save(wctx, thread, map[string]any{"w": w, "n": n, "tag": tag}, Metadata{"tag": tag})
				if saves.Add(1) == armAt {
					armed.Store(true)
				}
				o.mu.Lock()
				switch {
				case err != nil:
					o.failed[tag] = true
				case dur == Async:
					o.queued[tag] = id
					sinceFlush = append(sinceFlush, tag)
				default:
					o.acked[tag] = true
				}
				o.mu.Unlock()
				if dur == Async && n%3 == 2 {
					ferr := s.Flush(ctx)
					o.mu.Lock()
					for _, tag := range sinceFlush {
						if ferr == nil {
							o.flushed[tag] = true
						}
					}
					o.mu.Unlock()
					sinceFlush = nil
				}
			}
		})
	}
	if !noWAL {
		wg.Go(func() {
			for range 4 {
				_ = s.ApplyLog(ctx) // its error: the store's failure
			}
		})
	}
	wg.Wait()
	flushErr := s.Flush(ctx)
	failed := s.eng.Failed() != nil
	before, err := h178Dump(s)
	if err != nil {
		t.Fatalf("dump of the open store: %v", err)
	}
	if failed {
		if !errors.Is(flushErr, ErrFailed) {
			t.Errorf("Flush of a failed store = %v, want ErrFailed", flushErr)
		}
		h178Refusals(t, s, dir, before)
	}
	cerr := s.Close()
	failed = failed || s.eng.Failed() != nil // Close's own apply may fail it
	switch {
	case failed && (!errors.Is(cerr, ErrFailed) || !errors.Is(cerr, errH178Disk)):
		t.Errorf("Close of a failed store = %v, want an error wrapping ErrFailed and the cause", cerr)
	case !failed && cerr != nil:
		t.Errorf("Close of a store that never failed = %v", cerr)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	copied := filepath.Join(t.TempDir(), "c.ckpt")
	for _, suffix := range []string{"", walSuffix} {
		if _, err := os.Stat(path + suffix); err == nil {
			copyFileIn(t, path+suffix, copied+suffix)
		}
	}
	child := h178ChildDump(t, copied, noWAL)
	r, err := Open(path, Options{NoWAL: noWAL})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	after, err := h178Dump(r)
	if err != nil {
		t.Fatalf("dump after reopen: %v", err)
	}
	if !reflect.DeepEqual(h178Norm(child), h178Norm(after)) {
		t.Errorf("a new process reads\n%v\nthis one\n%v", child, after)
	}
	h178Check(t, o, after, "reopened")
	if failed && !reflect.DeepEqual(h178Norm(before), h178Norm(after)) {
		t.Errorf("the failed store read\n%v\nthe reopened one\n%v", before, after)
	}
	if _, err := r.Save(ctx, "w0", map[string]any{"w": 0, "n": -1, "tag": "again"}, Metadata{"tag": "again"}); err != nil {
		t.Errorf("a write after the reopen: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close of the reopened store: %v", err)
	}
	t.Logf("armed after %d saves, failAt %d sticky %v: %d calls, failed %v; %d acked, %d flushed, %d queued, %d failed, %d heard",
		armAt, failAt, sticky, calls.Load(), failed, len(o.acked), len(o.flushed), len(o.queued), len(o.failed), len(o.heard))
	return failed
}

// h178Norm: an empty thread is the same as a missing one.
func h178Norm(d map[string][]h178Entry) map[string][]h178Entry {
	out := map[string][]h178Entry{}
	for k, v := range d {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// h178Refusals: GC, Compact, Backup and BackupFile on a failed store
// return ErrFailed and change neither what it reads nor its directory.
func h178Refusals(t *testing.T, s *Store, dir string, before map[string][]h178Entry) {
	t.Helper()
	ctx := context.Background()
	names := func() []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		slices.Sort(out)
		return out
	}
	was := names()
	var buf bytes.Buffer
	dst := filepath.Join(dir, "backup.ckpt")
	for what, err := range map[string]error{
		"GC":         func() error { _, err := s.GC(ctx, Policy{KeepLast: 1}); return err }(),
		"Compact":    func() error { _, err := s.Compact(ctx, nil); return err }(),
		"Backup":     s.Backup(ctx, &buf),
		"BackupFile": s.BackupFile(ctx, dst),
	} {
		if !errors.Is(err, ErrFailed) || !errors.Is(err, errH178Disk) {
			t.Errorf("%s on a failed store = %v, want an error wrapping ErrFailed and the cause", what, err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("Backup of a failed store wrote %d bytes", buf.Len())
	}
	if now := names(); !slices.Equal(was, now) {
		t.Errorf("the refused calls changed the directory: %v, now %v", was, now)
	}
	now, err := h178Dump(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h178Norm(before), h178Norm(now)) {
		t.Errorf("the refused calls changed what the store reads: %v, now %v", before, now)
	}
}

// h178Check checks a dump against what the writers were told.
func h178Check(t *testing.T, o *h178Outcomes, d map[string][]h178Entry, when string) {
	t.Helper()
	seen := map[string]bool{}
	for thread, es := range d {
		for _, e := range es {
			if e.Tag != e.MetaTag || fmt.Sprintf("w%d/%d", e.W, e.N) != e.Tag || !strings.HasPrefix(e.Tag, thread+"/") {
				t.Errorf("%s: thread %s holds %+v: another write's values", when, thread, e)
			}
			if seen[e.Tag] {
				t.Errorf("%s: write %s is there twice", when, e.Tag)
			}
			seen[e.Tag] = true
		}
	}
	reported := func(id string) bool {
		for _, h := range o.heard {
			if id != "" && strings.Contains(h, id) {
				return true
			}
		}
		return false
	}
	for tag := range o.failed {
		if seen[tag] {
			t.Errorf("%s: write %s returned an error, yet it is there", when, tag)
		}
	}
	for tag := range o.acked {
		if !seen[tag] {
			t.Errorf("%s: acknowledged write %s is missing", when, tag)
		}
	}
	for tag, id := range o.queued {
		switch {
		case reported(id) && seen[tag]:
			t.Errorf("%s: async write %s (%s) was reported failed, yet it is there", when, tag, id)
		case reported(id) && o.flushed[tag]:
			t.Errorf("%s: async write %s (%s) was reported failed after a Flush returned nil for it", when, tag, id)
		case !reported(id) && !seen[tag]:
			t.Errorf("%s: async write %s (%s) is missing, and no failure named it (flushed: %v)", when, tag, id, o.flushed[tag])
		}
	}
}
