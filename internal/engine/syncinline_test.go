package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests of syncInline: a lone Sync write is fsync'd by the commit loop
// itself (no hand-off to the syncer and back), acknowledged only once that
// fsync returned, readable right after its ack, and never acknowledged if
// the fsync fails; ops queued behind a group still go through the syncer,
// so many writers keep sharing fsyncs.

// fsyncSite tells which goroutine ran a log fsync: the syncer, or the
// commit loop (inline). A log growth's fsync (reserve) is neither.
func fsyncSite() string {
	buf := make([]byte, 64<<10)
	st := string(buf[:runtime.Stack(buf, false)])
	switch {
	case strings.Contains(st, "(*Log).reserve"):
		return "growth"
	case strings.Contains(st, "(*syncer).run"):
		return "syncer"
	case strings.Contains(st, "(*Engine).run"):
		return "loop"
	}
	return "other"
}

// openSiteHook opens an engine whose log fsyncs record where they ran
// (growths left out) and, once fail is set, fail with cause.
func openSiteHook(t *testing.T, fail *atomic.Bool, cause error) (*Engine, func() []string) {
	t.Helper()
	sites := make(chan string, 1024)
	path := filepath.Join(t.TempDir(), "i.db")
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{SyncLog: func(f *os.File) error {
			if s := fsyncSite(); s != "growth" {
				sites <- s
			}
			if fail.Load() {
				return cause
			}
			return Fdatasync(f)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	// The first record grows the log (an fsync of its own, on the loop).
	if err := do(e, put("warm")); err != nil {
		t.Fatal(err)
	}
	taken := func() []string {
		var got []string
		for {
			select {
			case s := <-sites:
				got = append(got, s)
			default:
				return got
			}
		}
	}
	taken()
	return e, taken
}

// TestLoneSyncWriteIsFsyncedByTheCommitLoop: one writer's Sync writes,
// one after the other: each one's fsync runs on the commit loop (on main
// the syncer ran it: two wake-ups per write), each is readable right after
// its ack, and they all are after a reopen.
func TestLoneSyncWriteIsFsyncedByTheCommitLoop(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	e, taken := openSiteHook(t, &fail, nil)
	closed := false
	defer func() {
		if !closed {
			_ = e.Close()
		}
	}()
	keys := []string{"a", "b", "c", "d", "e"}
	for _, k := range keys {
		if err := do(e, put(k)); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if got := readKey(t, e, k); got != "v" {
			t.Fatalf("%s reads %q right after its ack, want v", k, got)
		}
		sites := taken()
		if len(sites) != 1 || sites[0] != "loop" {
			t.Fatalf("%s: its log fsyncs ran on %v, want one on the commit loop", k, sites)
		}
	}
	path := e.path
	closed = true
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, k := range keys {
		if got := readKey(t, r, k); got != "v" {
			t.Errorf("after reopen %s reads %q, want v", k, got)
		}
	}
}

// TestFailedInlineFsyncNeverAcknowledges: a lone Sync write whose fsync
// (on the commit loop) fails gets ErrFailed wrapping the cause, is not
// readable, and the store takes no write after it.
func TestFailedInlineFsyncNeverAcknowledges(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	var fail atomic.Bool
	e, taken := openSiteHook(t, &fail, cause)
	defer e.Close()
	fail.Store(true)
	if err := do(e, put("lost")); !errors.Is(err, ErrFailed) || !errors.Is(err, cause) {
		t.Fatalf("the write whose fsync failed: %v, want ErrFailed wrapping the cause", err)
	}
	// Then the failed record's erase fsyncs (on the loop too).
	if sites := taken(); len(sites) == 0 || sites[0] != "loop" || slices.Contains(sites, "syncer") {
		t.Fatalf("the failed fsync ran on %v, want the commit loop", sites)
	}
	if got := readKey(t, e, "lost"); got != "" {
		t.Fatalf("the write whose fsync failed reads %q", got)
	}
	fail.Store(false)
	if err := do(e, put("after")); !errors.Is(err, ErrFailed) {
		t.Fatalf("a write after the failure: %v, want ErrFailed", err)
	}
	if got := readKey(t, e, "after"); got != "" {
		t.Fatalf("a write after the failure reads %q", got)
	}
}

// TestQueuedOpsKeepTheSyncer: a group with an op queued behind it hands
// its fsync to the syncer, so the loop builds the next group during it
// (many writers share fsyncs): X's op holds the loop until Y is queued.
func TestQueuedOpsKeepTheSyncer(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	e, taken := openSiteHook(t, &fail, nil)
	defer e.Close()
	inX, queued := make(chan struct{}), make(chan struct{})
	x := &Op{Ctx: context.Background(), Done: make(chan error, 1), Apply: func(w Writer) error {
		close(inX)
		<-queued
		return w.Put(testBucket, []byte("x"), []byte("v"))
	}}
	if err := e.Send(x.Ctx, x); err != nil {
		t.Fatal(err)
	}
	<-inX // X is its group's only op
	y := put("y")
	y.Ctx, y.Done = context.Background(), make(chan error, 1)
	if err := e.Send(y.Ctx, y); err != nil {
		t.Fatal(err)
	}
	close(queued)
	for name, op := range map[string]*Op{"x": x, "y": y} {
		if err := <-op.Done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := readKey(t, e, name); got != "v" {
			t.Fatalf("%s reads %q after its ack, want v", name, got)
		}
	}
	// X's fsync is the syncer's; Y's may be either (lone by then, or not).
	if sites := taken(); len(sites) == 0 || sites[0] != "syncer" {
		t.Fatalf("fsyncs ran on %v, want X's first on the syncer", sites)
	}
}
