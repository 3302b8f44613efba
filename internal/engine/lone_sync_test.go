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

// syncProbe is a log fsync (Hooks.SyncLog) that records, for each call,
// which goroutine made it (the commit loop or the syncer), and which
// calls have finished: started counts the calls begun, finished is the
// highest call number whose fsync has returned.
type syncProbe struct {
	mu       sync.Mutex
	byLoop   []bool // call i ran in the commit loop
	started  atomic.Int64
	finished atomic.Int64
	// gate, if set, runs inside call n (1-based) before its fsync.
	gateAt int64
	gate   func()
	fail   atomic.Pointer[error]
}

func (p *syncProbe) sync(f *os.File) error {
	n := p.started.Add(1)
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	p.mu.Lock()
	p.byLoop = append(p.byLoop, strings.Contains(stack, "(*Engine).run(") && !strings.Contains(stack, "syncer("))
	p.mu.Unlock()
	if n == p.gateAt && p.gate != nil {
		p.gate()
	}
	var err error
	if e := p.fail.Load(); e != nil {
		err = *e
	} else {
		err = Fdatasync(f)
	}
	for {
		done := p.finished.Load()
		if done >= n || p.finished.CompareAndSwap(done, n) {
			break
		}
	}
	return err
}

func (p *syncProbe) loopCalls() (loop, syncer int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.byLoop {
		if b {
			loop++
		} else {
			syncer++
		}
	}
	return loop, syncer
}

func openProbed(t *testing.T, p *syncProbe) *Engine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lone.db")
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{SyncLog: p.sync}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// ackedAfterAnFsync sends a Sync put and checks that, when it is
// acknowledged, an fsync begun after the op's changes were made has
// returned: the acknowledged write is durable in the log.
func ackedAfterAnFsync(t *testing.T, e *Engine, p *syncProbe, key string) {
	t.Helper()
	var before int64
	op := &Op{Apply: func(w Writer) error {
		before = p.started.Load()
		return w.Put(testBucket, []byte(key), []byte("v"))
	}}
	if err := do(e, op); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	if got := p.finished.Load(); got <= before {
		t.Fatalf("put %s acknowledged with fsyncs up to call %d finished, but its changes were made after call %d began", key, got, before)
	}
}

// TestLoneWriterFsyncsInTheCommitLoop: one writer's Sync writes are
// fsync'd by the commit loop itself, not handed to the syncer and back
// (two goroutine hand-offs a commit), and each is acknowledged only after
// an fsync that began after its changes.
func TestLoneWriterFsyncsInTheCommitLoop(t *testing.T) {
	t.Parallel()
	p := &syncProbe{}
	e := openProbed(t, p)
	for i := range 20 {
		ackedAfterAnFsync(t, e, p, "k"+string(rune('a'+i)))
	}
	loop, syncer := p.loopCalls()
	if loop != 20 || syncer != 0 {
		t.Fatalf("fsyncs: %d in the commit loop, %d in the syncer; want 20 and 0", loop, syncer)
	}
}

// TestSecondWriterHandsTheFsyncToTheSyncer: an op queued while the commit
// loop fsyncs a lone writer's group sends the next fsync to the syncer, so
// the loop builds groups while the disk works; and back once writes come
// one at a time again. Every write is acknowledged after its fsync.
func TestSecondWriterHandsTheFsyncToTheSyncer(t *testing.T) {
	t.Parallel()
	second := &Op{Ctx: context.Background(), Apply: func(w Writer) error {
		return w.Put(testBucket, []byte("second"), []byte("v"))
	}, Done: make(chan error, 1)}
	p := &syncProbe{gateAt: 2}
	var e *Engine
	// Inside the loop's second fsync (the first write's), the second
	// writer queues its op.
	p.gate = func() {
		if err := e.Send(context.Background(), second); err != nil {
			t.Error(err)
		}
	}
	e = openProbed(t, p)
	ackedAfterAnFsync(t, e, p, "warm") // fsync 1, in the loop
	ackedAfterAnFsync(t, e, p, "first")
	if err := <-second.Done; err != nil {
		t.Fatal(err)
	}
	if got := p.finished.Load(); got < 3 {
		t.Fatalf("the second write was acknowledged with %d fsyncs finished, want its own (3)", got)
	}
	p.mu.Lock()
	byLoop := append([]bool(nil), p.byLoop...)
	p.mu.Unlock()
	if len(byLoop) < 3 || !byLoop[0] || !byLoop[1] || byLoop[2] {
		t.Fatalf("fsyncs by the commit loop: %v; want the first two in the loop, the third (the second writer's) in the syncer", byLoop)
	}
	// Alone again: the syncer saw nothing come during its fsync, so the
	// next ones are the loop's.
	for _, k := range []string{"again1", "again2"} {
		ackedAfterAnFsync(t, e, p, k)
	}
	p.mu.Lock()
	last := p.byLoop[len(p.byLoop)-1]
	p.mu.Unlock()
	if !last {
		t.Fatal("a lone writer after the second writer left is still fsync'd through the syncer")
	}
}

// TestLoneWriterFailedFsync: a failed fsync in the commit loop fails the
// write and the store, as one in the syncer does.
func TestLoneWriterFailedFsync(t *testing.T) {
	t.Parallel()
	p := &syncProbe{}
	e := openProbed(t, p)
	ackedAfterAnFsync(t, e, p, "ok")
	cause := errors.New("disk on fire")
	p.fail.Store(&cause)
	err := do(e, put("lost"))
	if !errors.Is(err, cause) || !errors.Is(err, ErrFailed) {
		t.Fatalf("put with a failing fsync: %v, want %v and ErrFailed", err, cause)
	}
	// (The erasure of the failed record fsyncs too, in the loop.)
	if loop, syncer := p.loopCalls(); loop < 2 || syncer != 0 {
		t.Fatalf("fsyncs: %d in the commit loop, %d in the syncer; want 2 or more and 0", loop, syncer)
	}
	if err := do(e, put("after")); !errors.Is(err, ErrFailed) {
		t.Fatalf("put after the failure: %v, want ErrFailed", err)
	}
}
