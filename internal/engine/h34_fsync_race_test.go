package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests of the log's fsyncs as Linux reports a write-back error: once per
// open file description (errseq). When the disk drops a page of the log,
// the first fsync of the file to check afterwards fails and every later
// one succeeds, although the page is gone. So of the log's fsyncs (the
// syncer's, and the commit loop's own: a growth, a take-back, a cleared
// head, Erase), the one that hears the error must be one whose failure
// stops every acknowledgement of the records it covered.

// errseqLog is a log fsync as the kernel answers it: drop() marks a
// write-back error (pages of the log lost), which the next fsync to check
// reports and consumes; fsyncs after it succeed.
type errseqLog struct{ dropped atomic.Bool }

var errPagesDropped = errors.New("injected write-back error: pages of the log dropped")

func (m *errseqLog) drop() { m.dropped.Store(true) }

// check is the end of an fsync: it reports the error once.
func (m *errseqLog) check(f *os.File) error {
	if m.dropped.CompareAndSwap(true, false) {
		return errPagesDropped
	}
	return Fdatasync(f)
}

// fsyncCaller names who runs the log's fsync that calls it: "syncer" (its
// run), else the Log methods on the stack, innermost first (for a growth:
// extend reserve Append).
func fsyncCaller() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	var in []string
	for {
		fr, more := frames.Next()
		if strings.HasSuffix(fr.Function, ".(*syncer).run") {
			return "syncer"
		}
		if i := strings.Index(fr.Function, ".(*Log)."); i >= 0 {
			in = append(in, fr.Function[i+len(".(*Log)."):])
		}
		if !more {
			return strings.Join(in, " ")
		}
	}
}

// logWaiter reports whether a goroutine waits for a lock inside a Log
// method, outside the fsync hook (hook names the test whose hook it is):
// a fsync of the log waiting for the one in progress to end.
func logWaiter(hook string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		waiting := strings.Contains(head, "[sync.Mutex.Lock") || strings.Contains(head, "[semacquire")
		if waiting && strings.Contains(g, "engine.(*Log).") && !strings.Contains(g, hook) {
			return true
		}
	}
	return false
}

// TestGrowthFsyncHearingTheErrorFailsTheSyncersGroup: A's record is
// written and the syncer's fsync of it runs; meanwhile the disk drops A's
// pages. The commit loop grows the log for B's record (a Solo op seals
// B's open group while A's fsync is in flight) and fsyncs the file: if
// that fsync checks first, it hears the error (B fails, the store fails)
// and the syncer's fsync, ending after it, hears nothing. A must not be
// acknowledged durable: its pages are gone, and a power cut loses it.
//
// On main both fsyncs run at once: the growth's fsync fails, the syncer's
// returns nil, and A is acknowledged (nil) by a failed store. With the
// log's fsyncs serialized, the growth's waits for the syncer's (the test
// then lets the syncer's end), which hears the error itself: A fails.
func TestGrowthFsyncHearingTheErrorFailsTheSyncersGroup(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.db")
	var (
		model    errseqLog
		armed    atomic.Bool
		aIn      = make(chan struct{})
		cIn      = make(chan struct{})
		cInOnce  = sync.OnceFunc(func() { close(cIn) })
		heardMu  sync.Mutex
		heardBy  []string // who heard the error
		released = make(chan string, 1)
	)
	hook := "TestGrowthFsyncHearingTheErrorFailsTheSyncersGroup"
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{HoldApplier: true, LogGrow: 1, SyncLog: func(f *os.File) error {
			caller := fsyncCaller()
			if caller == "syncer" && armed.CompareAndSwap(true, false) {
				// A's fsync: the disk drops A's pages while it writes them
				// back. It ends once the commit loop's fsync has checked
				// (main: they overlap), or once that fsync waits for this
				// one (serialized: it cannot check first).
				model.drop()
				close(aIn)
				why := ""
				for why == "" {
					select {
					case <-cIn:
						why = "the commit loop's fsync checked first"
					default:
						if logWaiter(hook) {
							why = "the commit loop's fsync waits for this one"
						} else {
							time.Sleep(50 * time.Microsecond) // poll interval
						}
					}
				}
				released <- why
			} else if caller != "syncer" && !armed.Load() {
				select {
				case <-aIn:
					defer cInOnce()
				default:
				}
			}
			err := model.check(f)
			if err != nil {
				heardMu.Lock()
				heardBy = append(heardBy, caller)
				heardMu.Unlock()
			}
			return err
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := do(e, put("warm")); err != nil {
		t.Fatal(err)
	}

	armed.Store(true)
	a := put("a")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-aIn
	b := sendBuilt(t, e, put("b")) // joins the open group: A's fsync is in flight
	solo := make(chan error, 1)
	go func() { solo <- e.Solo(context.Background(), nil) }() // seals B: its record grows the log

	errA, errB := <-a.Done, <-b.Done
	<-solo
	heardMu.Lock()
	defer heardMu.Unlock()
	t.Logf("A's fsync released: %s; the write-back error heard by %v", <-released, heardBy)
	if errB == nil {
		t.Error("B acknowledged, yet the fsync of its growth failed")
	}
	if e.Failed() == nil {
		t.Error("the store did not fail, yet the log's fsync failed")
	}
	if errA == nil {
		t.Errorf("A acknowledged durable, yet its pages were dropped (the write-back error went to %v, "+
			"while the syncer's fsync covering A returned nil): a power cut loses an acknowledged write", heardBy)
	}
}

// TestLogSyncAfterAFailedFsyncFails: once any fsync of the log failed, the
// syncer's later fsyncs fail too. The growth's fsync for record 2 hears
// that record 1's pages were dropped; the next Sync, which the kernel
// answers with success (the error was reported once), must not make
// record 1 look durable. On main it returns nil.
func TestLogSyncAfterAFailedFsyncFails(t *testing.T) {
	t.Parallel()
	var model errseqLog
	l, err := CreateLog(filepath.Join(t.TempDir(), "s.db-wal"), model.check)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.grow = 1 // every record grows the file: an fsync in Append
	m := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: []byte("v")}}
	if _, err := l.Append(1, 0, m); err != nil {
		t.Fatal(err)
	}
	model.drop() // record 1's pages: a write-back error
	if _, err := l.Append(2, 0, m); !errors.Is(err, errPagesDropped) {
		t.Fatalf("the growth's fsync: %v, want the write-back error", err)
	}
	if err := l.Sync(); err == nil {
		t.Fatal("Sync succeeded after the log's fsync failed: record 1 would be acknowledged, its pages dropped")
	}
	if err := l.Sync(); err == nil {
		t.Fatal("a second Sync succeeded after the log's fsync failed")
	}
}
