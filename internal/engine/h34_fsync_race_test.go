package engine

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
// method: a fsync of the log waiting for the one in progress to end (the
// hook's own goroutine sleeps or runs meanwhile).
func logWaiter() bool {
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
		if waiting && strings.Contains(g, "engine.(*Log).") {
			return true
		}
	}
	return false
}

// TestGrowthFsyncHearingTheErrorFailsTheSyncersSync: the syncer's fsync
// of record 1 runs (Log.Sync; the applier asked for it, so the commit
// loop goes on logging) and the disk drops record 1's pages meanwhile;
// the commit loop grows the log for record 2 and fsyncs the file. If that
// fsync checks first, it hears the error (record 2 fails, the store
// fails) and the syncer's, ending after it, hears nothing: record 1 would
// count as durable (bbolt would take it, a Sync group would be logged on
// its word), its pages gone. (Since the thirteenth session the commit
// loop writes no record while an fsync it asked for is in flight, so the
// syncer's fsync beside a growth is one the applier asked for.)
//
// Without Log.fsync both fsyncs run at once: the growth's fails, Sync
// returns nil. With the log's fsyncs one at a time, the growth's waits
// for the syncer's (the hook then lets it end), which hears the error.
func TestGrowthFsyncHearingTheErrorFailsTheSyncersSync(t *testing.T) {
	t.Parallel()
	var (
		model   errseqLog
		armed   atomic.Bool
		aIn     = make(chan struct{})
		cIn     = make(chan struct{})
		cInOnce = sync.OnceFunc(func() { close(cIn) })
		why     string
	)
	l, err := CreateLog(filepath.Join(t.TempDir(), "s.db-wal"), func(f *os.File) error {
		caller := fsyncCaller()
		if strings.HasSuffix(caller, "Sync") && armed.CompareAndSwap(true, false) {
			// The syncer's fsync: the disk drops record 1's pages while it
			// writes them back. It ends once the growth's fsync has
			// checked (they overlap), or once that fsync waits for this
			// one (one at a time: it cannot check first).
			model.drop()
			close(aIn)
			for why == "" {
				select {
				case <-cIn:
					why = "the growth's fsync checked first"
				default:
					if logWaiter() {
						why = "the growth's fsync waits for this one"
					} else {
						time.Sleep(50 * time.Microsecond) // poll interval
					}
				}
			}
		} else if strings.Contains(caller, "Append") {
			select {
			case <-aIn:
				defer cInOnce()
			default:
			}
		}
		return model.check(f)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.grow = 1 // every record grows the file: an fsync in Append
	m := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: []byte("v")}}
	if _, err := l.Append(1, 0, m); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	synced := make(chan error, 1)
	go func() { synced <- l.Sync() }()
	<-aIn
	_, appendErr := l.Append(2, 0, m)
	syncErr := <-synced
	t.Logf("the syncer's fsync released: %s; Append: %v; Sync: %v", why, appendErr, syncErr)
	if syncErr == nil {
		t.Errorf("the syncer's fsync of record 1 returned nil, its pages dropped (the growth's fsync heard the error: %v): "+
			"record 1 counts as durable, and a power cut loses it", appendErr)
	}
	if appendErr == nil {
		t.Error("record 2 appended, yet the fsync of its growth could not be trusted")
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
