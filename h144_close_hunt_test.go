package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCloseRacingEveryLongCall: Close while other goroutines are in the
// middle of every long call the store offers (a List being consumed
// slowly, GetTuple, a Reader, Export to a slow writer, Import, GC, Prune,
// DeleteThread, Compact, Verify, Stats, RecentThreads, Threads, Sync and
// Async saves, Flush): each call returns nil or ErrClosed (never another
// error, a panic or a hang), what it read is right, Close returns nil, a
// Raw a Reader returned before Close is unchanged after it, and after a
// reopen Verify is clean, every acknowledged save is there, no save that
// returned an error is, and the Import is all or nothing. Close comes
// once every call has begun and a random number of calls have returned
// (no sleep).
// CKPT_H144_ROUNDS for more rounds (default 3).
func TestCloseRacingEveryLongCall(t *testing.T) {
	t.Parallel()
	rounds := 3 // one of each durability: Sync through the log, NoWAL, NoSync
	if raceBuild {
		rounds = 2 // a round takes seconds under -race on a busy machine
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_H144_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dump := h144Dump(t)
	for round := range rounds {
		h144CloseRound(t, round, dump)
	}
}

const h144ImportSteps = 8

// h144Dump is an Export of three threads imp-0..imp-2 of
// h144ImportSteps checkpoints each.
func h144Dump(t *testing.T) []byte {
	t.Helper()
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "src.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for th := range 3 {
		for i := range h144ImportSteps {
			if _, err := src.Save(ctx, fmt.Sprint("imp-", th), map[string]any{"i": i}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	return dump.Bytes()
}

// h144SlowWriter yields to the other goroutines at every write.
type h144SlowWriter struct{}

func (h144SlowWriter) Write(p []byte) (int, error) {
	runtime.Gosched()
	return len(p), nil
}

func h144CloseRound(t *testing.T, round int, dump []byte) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(round), 144))
	path := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.db", round))
	var opts Options
	switch round % 3 {
	case 1:
		opts.NoWAL = true
	case 2:
		opts.Durability = NoSync
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 500)
	const writers, seed = 3, 6
	state := func(th string, n int) map[string]any { return map[string]any{"who": th, "n": n, "pad": pad} }
	// The seed without an fsync each; Flush makes it durable.
	seedCtx := WithWriteOptions(ctx, WriteOptions{Durability: NoSync})
	for _, th := range []string{"w0", "w1", "w2", "v0", "v1"} {
		for n := range seed {
			if _, err := s.Save(seedCtx, th, state(th, n), Metadata{"n": n}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		bad      []string
		acked    = map[string][]int{} // thread -> n of every save that returned nil
		failed   = map[string][]int{} // thread -> n of every save that returned an error
		importOK atomic.Bool
		imported atomic.Bool  // Import returned (nil or not)
		calls    atomic.Int64 // calls returned, all goroutines
		began    sync.WaitGroup
		wg       sync.WaitGroup
	)
	report := func(what string, err error) bool {
		if err == nil {
			return false
		}
		if !errors.Is(err, ErrClosed) {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%s: %v", what, err))
			mu.Unlock()
		}
		return true
	}
	wrong := func(format string, args ...any) {
		mu.Lock()
		bad = append(bad, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// checkWho checks that a tuple read for thread th holds th's values.
	checkWho := func(what, th string, tup *Tuple) {
		var who string
		if err := tup.Decode("who", &who); err != nil || who != th || tup.Config.ThreadID != th {
			wrong("%s of %s: read thread %q who %q (%v)", what, th, tup.Config.ThreadID, who, err)
		}
	}
	// loop runs call until it reports the store closed; began is done
	// once its first call is about to start.
	loop := func(name string, call func(i int) error) {
		began.Add(1)
		wg.Go(func() {
			for i := 0; ; i++ {
				if i == 0 {
					began.Done()
				}
				err := call(i)
				calls.Add(1)
				if report(name, err) {
					return
				}
			}
		})
	}
	for w := range writers {
		th := fmt.Sprint("w", w)
		loop("save "+th, func(i int) error {
			n := seed + i
			_, err := s.Save(ctx, th, state(th, n), Metadata{"n": n})
			mu.Lock()
			if err == nil {
				acked[th] = append(acked[th], n)
			} else {
				failed[th] = append(failed[th], n)
			}
			mu.Unlock()
			return err
		})
	}
	async := WithWriteOptions(ctx, WriteOptions{Durability: Async})
	loop("async save a0", func(i int) error {
		if i%4 == 3 {
			return s.Flush(ctx)
		}
		_, err := s.Save(async, "a0", state("a0", i), Metadata{"n": i})
		mu.Lock()
		if err == nil {
			acked["a0"] = append(acked["a0"], i)
		} else {
			failed["a0"] = append(failed["a0"], i)
		}
		mu.Unlock()
		return err
	})
	loop("List", func(int) error {
		for tup, err := range s.List(ctx, ListOptions{}) {
			if err != nil {
				return err
			}
			if th := tup.Config.ThreadID; !strings.HasPrefix(th, "imp-") {
				checkWho("List", th, tup)
			}
			runtime.Gosched()
		}
		return nil
	})
	loop("GetTuple", func(i int) error {
		th := fmt.Sprint("w", i%writers)
		tup, err := s.GetTuple(ctx, Config{ThreadID: th})
		if err == nil {
			checkWho("GetTuple", th, tup)
		}
		return err
	})
	reader := s.NewReader()
	var last *Tuple // the Reader's last tuple, valid until its next read
	var lastWho []byte
	loop("Reader", func(i int) error {
		if last != nil && !bytes.Equal(last.Checkpoint.ChannelValues["who"].(Raw), lastWho) {
			wrong("Reader: a Raw changed before the Reader's next read")
		}
		th := fmt.Sprint("w", i%writers)
		tup, err := reader.GetTuple(ctx, Config{ThreadID: th})
		if err == nil {
			checkWho("Reader", th, tup)
			last, lastWho = tup, bytes.Clone(tup.Checkpoint.ChannelValues["who"].(Raw))
		}
		return err
	})
	loop("Export", func(int) error {
		_, err := s.Export(ctx, h144SlowWriter{}, ExportOptions{})
		return err
	})
	loop("Import", func(i int) error {
		if i > 0 {
			_, err := s.Stats(ctx) // once imported, something else
			return err
		}
		_, err := s.Import(ctx, bytes.NewReader(dump), ImportOptions{})
		importOK.Store(err == nil)
		imported.Store(true)
		return err
	})
	loop("GC", func(int) error { _, err := s.GC(ctx, Policy{KeepLast: 1000}); return err })
	loop("Prune v0", func(int) error { return s.Prune(ctx, []string{"v0"}, PruneKeepLatest) })
	loop("DeleteThread v1", func(int) error { return s.DeleteThread(ctx, "v1") })
	loop("Compact", func(int) error { _, err := s.Compact(ctx, nil); return err })
	loop("Verify", func(int) error {
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err == nil && !rep.OK() {
			wrong("Verify beside the calls: %v", rep)
		}
		return err
	})
	loop("Stats", func(int) error { _, err := s.Stats(ctx); return err })
	loop("RecentThreads", func(int) error {
		_, err := s.RecentThreads(ctx, ThreadQuery{Limit: 10})
		return err
	})
	loop("Threads", func(int) error {
		for _, err := range s.Threads(ctx) {
			if err != nil {
				return err
			}
			runtime.Gosched()
		}
		return nil
	})

	// Close once every call has begun and a random number of calls (up
	// to a few hundred: Close comes early in one round, late in another)
	// have returned: a wait, never a sleep.
	began.Wait()
	for want := rng.Int64N(400); calls.Load() < want; {
		runtime.Gosched()
	}
	closeWithin(t, s)
	if !h144Returns(func() { wg.Wait() }) {
		buf := make([]byte, 8<<20)
		panic(fmt.Sprintf("round %d: calls hang after Close:\n%s", round, buf[:runtime.Stack(buf, true)]))
	}
	for _, b := range bad {
		t.Errorf("round %d: %s", round, b)
	}
	// After Close: the Reader's last Raw is what it was, its next read
	// fails with ErrClosed.
	if last != nil && !bytes.Equal(last.Checkpoint.ChannelValues["who"].(Raw), lastWho) {
		t.Errorf("round %d: the Reader's last Raw changed across Close", round)
	}
	if _, err := reader.GetTuple(ctx, Config{ThreadID: "w0"}); !errors.Is(err, ErrClosed) {
		t.Errorf("round %d: Reader after Close: %v, want ErrClosed", round, err)
	}

	if s, err = Open(path, opts); err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer s.Close()
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("round %d: Verify after reopen: %v %v", round, err, rep)
	}
	found := map[string]map[int]bool{}
	imports := map[string]int{}
	for tup, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			t.Fatalf("round %d: List after reopen: %v", round, err)
		}
		th := tup.Config.ThreadID
		if strings.HasPrefix(th, "imp-") {
			imports[th]++
			continue
		}
		checkWho("List after reopen", th, tup)
		if found[th] == nil {
			found[th] = map[int]bool{}
		}
		n, _ := tup.Metadata["n"].(int64)
		found[th][int(n)] = true
	}
	for _, b := range bad {
		t.Errorf("round %d: %s", round, b)
	}
	for th, ns := range acked {
		for _, n := range ns {
			if !found[th][n] {
				t.Errorf("round %d: %s: acknowledged save %d lost", round, th, n)
			}
		}
	}
	for th, ns := range failed {
		for _, n := range ns {
			if found[th][n] {
				t.Errorf("round %d: %s: save %d returned an error and is there", round, th, n)
			}
		}
	}
	for w := range writers {
		for n := range seed {
			if th := fmt.Sprint("w", w); !found[th][n] {
				t.Errorf("round %d: %s: seeded save %d lost", round, th, n)
			}
		}
	}
	all := len(imports) == 3 && imports["imp-0"] == h144ImportSteps && imports["imp-1"] == h144ImportSteps && imports["imp-2"] == h144ImportSteps
	if !(len(imports) == 0 || all) || importOK.Load() && !all {
		t.Errorf("round %d: Import (returned %v, ok %v) left %v: all or nothing", round, imported.Load(), importOK.Load(), imports)
	}
	mu.Lock()
	t.Logf("round %d: acked %d/%d/%d/%d saves, import %v", round, len(acked["w0"]), len(acked["w1"]), len(acked["w2"]), len(acked["a0"]), all)
	mu.Unlock()
}

// h144Returns runs f and reports whether it returned within detect.
func h144Returns(f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(detect):
		return false
	}
}

// TestReaderRawsOutliveDeleteCompactAndClose: what a Reader returned
// stays what it was until the Reader's next read, whatever happens to
// the store meanwhile: its thread deleted, a GC, a Compact that replaces
// the file, Close. The read of the deleted thread is ErrNotFound (never
// another thread's bytes), the next one reads its own thread's, and the
// read after Close is ErrClosed.
func TestReaderRawsOutliveDeleteCompactAndClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "reader.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := func(th string) string { return strings.Repeat(th, 4096) }
	for _, th := range []string{"a", "b"} {
		for n := range 3 {
			if _, err := s.Save(ctx, th, map[string]any{"who": th, "n": n, "big": big(th)}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := s.NewReader()
	raws := func(tup *Tuple) [][]byte {
		var out [][]byte
		for _, ch := range []string{"who", "n", "big"} {
			out = append(out, tup.Checkpoint.ChannelValues[ch].(Raw))
		}
		return out
	}
	same := func(what string, tup *Tuple, want [][]byte) {
		t.Helper()
		for i, got := range raws(tup) {
			if !bytes.Equal(got, want[i]) {
				t.Errorf("%s: a Raw of the Reader's last tuple changed before its next read", what)
			}
		}
	}
	ta, err := r.GetTuple(ctx, Config{ThreadID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	wantA := raws(ta)
	for i := range wantA {
		wantA[i] = bytes.Clone(wantA[i])
	}
	if err := s.DeleteThread(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	same("after DeleteThread", ta, wantA)
	if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	same("after GC", ta, wantA)
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	same("after Compact", ta, wantA)
	if tup, err := r.GetTuple(ctx, Config{ThreadID: "a"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the Reader's read of the deleted thread: %v %v, want ErrNotFound", tup, err)
	}
	tb, err := r.GetTuple(ctx, Config{ThreadID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var who, b string
	if err := tb.Decode("who", &who); err != nil || who != "b" {
		t.Errorf("the Reader's read of b: who %q (%v)", who, err)
	}
	if err := tb.Decode("big", &b); err != nil || b != big("b") {
		t.Errorf("the Reader's read of b: big %.10q... (%v)", b, err)
	}
	wantB := raws(tb)
	for i := range wantB {
		wantB[i] = bytes.Clone(wantB[i])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	same("after Close", tb, wantB)
	if _, err := r.GetTuple(ctx, Config{ThreadID: "b"}); !errors.Is(err, ErrClosed) {
		t.Errorf("the Reader's read after Close: %v, want ErrClosed", err)
	}
}
