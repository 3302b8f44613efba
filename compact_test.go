package ckpt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// dumpAll renders every checkpoint of the store (config, parent, values,
// metadata, pending writes), newest first, for comparisons.
func dumpAll(t *testing.T, s *ckpt.Store) []string {
	t.Helper()
	var out []string
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		vals := map[string]any{}
		for ch, v := range tp.Checkpoint.ChannelValues {
			vals[ch], err = v.(ckpt.Raw).Value()
			if err != nil {
				t.Fatal(err)
			}
		}
		var writes []string
		for _, w := range tp.PendingWrites {
			v, err := w.Value.Value()
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, fmt.Sprintf("%s/%s/%d/%s=%v", w.TaskPath, w.TaskID, w.Idx, w.Channel, v))
		}
		out = append(out, fmt.Sprintf("%+v parent=%+v values=%v versions=%v md=%v writes=%v", tp.Config, tp.ParentConfig, vals, tp.Checkpoint.ChannelVersions, tp.Metadata, writes))
	}
	return out
}

// fillW1 writes a small W1-like workload: threads x steps, messages list
// growing each step, a fixed context, one pending write per step.
func fillW1(t *testing.T, s *ckpt.Store, threads, steps int) {
	t.Helper()
	for th := range threads {
		thread := fmt.Sprint("thread-", th)
		var msgs []string
		for step := range steps {
			msgs = append(msgs, strings.Repeat(fmt.Sprint(step%10), 200))
			state := map[string]any{"messages": msgs, "turn_count": step + 1, "context": strings.Repeat("c", 1024)}
			id, err := s.Save(ctx, thread, state, ckpt.Metadata{"step": step, "run_id": fmt.Sprint("run-", th)})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWrites(ctx, ckpt.Config{ThreadID: thread, CheckpointID: id}, []ckpt.Write{{Channel: "messages", Value: msgs[len(msgs)-1]}}, fmt.Sprint("task-", step), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// boltCheck runs bbolt's consistency check on a closed store file.
func boltCheck(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}

func TestCompactShrinksFileAndKeepsData(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	fillW1(t, s, 20, 30)
	// A 4 KiB value of its own per checkpoint, so that pruning frees most
	// of the file's bytes: W1's lists are append-deltas the kept
	// checkpoints still use, and the file grows in small steps now, so
	// without this the live data alone is about half the file.
	for th := range 20 {
		for step := range 30 {
			scratch := strings.Repeat(fmt.Sprint(th, "-", step, ";"), 4096/6)
			if _, err := s.Save(ctx, fmt.Sprint("thread-", th), map[string]any{"scratch": scratch}, ckpt.Metadata{"step": 30 + step}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Into bbolt before pruning: else, when the applier lags (as beside
	// parallel tests), GC prunes in the overlay and the file never grows.
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := dumpAll(t, s)
	before := fileSize(t, path)

	var calls [][2]int64
	st, err := s.Compact(ctx, func(done, total int64) { calls = append(calls, [2]int64{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	// Compaction first applies the write-ahead log, which can only grow
	// the file.
	if st.BytesBefore < before || st.BytesAfter != fileSize(t, path) {
		t.Fatalf("stats %+v, file was %d, is %d", st, before, fileSize(t, path))
	}
	if st.BytesAfter*2 > st.BytesBefore {
		t.Fatalf("compaction of a 90%% pruned store: %d -> %d bytes", st.BytesBefore, st.BytesAfter)
	}
	if len(calls) == 0 {
		t.Fatal("progress never called")
	}
	last := calls[len(calls)-1]
	if last[0] != last[1] || last[1] == 0 {
		t.Fatalf("last progress %v, want done == total > 0", last)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] || calls[i][1] != last[1] {
			t.Fatalf("progress not monotonic: %v", calls)
		}
	}
	if got := dumpAll(t, s); !reflect.DeepEqual(got, want) {
		t.Fatal("data changed by compaction")
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	checkInvariants(t, s)

	// The store goes on working on the new file, and compacts again.
	id, err := s.Save(ctx, "after", map[string]any{"x": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	boltCheck(t, path)
	s2, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if snap, err := s2.Latest(ctx, "after"); err != nil || snap.CheckpointID != id {
		t.Fatalf("write after compaction: %v, %v", snap, err)
	}
	if got := dumpAll(t, s2); !reflect.DeepEqual(got[1:], want) {
		t.Fatal("data changed across reopen")
	}
}

// TestCompactedFileEndsWithItsData: bbolt grows a file beyond 16 MB to
// what it needs plus 16 MB; the compacted file must not keep that empty
// tail, nor any other (W3's target compares it with a fresh store of the
// same data). TestCompactOfTightStoreDoesNotGrow: smaller files.
func TestCompactedFileEndsWithItsData(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	big := strings.Repeat("x", 50_000)
	for th := range 40 {
		var parent ckpt.Config
		parent.ThreadID = fmt.Sprint("t", th)
		for i := range 12 {
			cp := ckpt.Checkpoint{ChannelValues: map[string]any{"v": fmt.Sprint(i, big)}, ChannelVersions: map[string]string{"v": fmt.Sprint(i)}}
			c, err := s.Put(ctx, parent, cp, nil, map[string]string{"v": fmt.Sprint(i)})
			if err != nil {
				t.Fatal(err)
			}
			parent = c
		}
	}
	if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	used, _ := dataPages(t, path)
	if used < 16<<20 {
		t.Fatalf("only %d bytes of data: the test needs more than 16 MB", used)
	}
	if size := fileSize(t, path); size > used+2*4096 { // bbolt grows a file to one page past its data
		t.Fatalf("compacted file is %d bytes for %d bytes of pages", size, used)
	}
}

// TestCompactOfTightStoreDoesNotGrow: a store with nothing to give back
// (written, never pruned) must not come out of Compact larger than it went
// in, nor with empty pages past its data: a page or two at most (bbolt
// grows a file to one page past its data). Both a store under bbolt's
// first map sizes (its file rounded up to a power of two) and one of a few
// MB (grown in fixed 1 MiB steps: a 2.8 MB store became 3.7 MB).
func TestCompactOfTightStoreDoesNotGrow(t *testing.T) {
	t.Parallel()
	for _, threads := range []int{2, 120} {
		t.Run(fmt.Sprint(threads, "threads"), func(t *testing.T) {
			t.Parallel()
			s, path := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
			fillW1(t, s, threads, 12)
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := s.Compact(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			used, page := dataPages(t, path)
			t.Logf("%d bytes before, %d after, %d of pages", st.BytesBefore, st.BytesAfter, used)
			if st.BytesAfter != fileSize(t, path) {
				t.Fatalf("stats %+v, file is %d bytes", st, fileSize(t, path))
			}
			if st.BytesAfter > st.BytesBefore+2*page {
				t.Errorf("compaction grew the file from %d to %d bytes (%d bytes of pages)", st.BytesBefore, st.BytesAfter, used)
			}
			if st.BytesAfter > used+2*page {
				t.Errorf("compacted file is %d bytes for %d bytes of pages: %d empty bytes at its end", st.BytesAfter, used, st.BytesAfter-used)
			}
		})
	}
}

// TestCompactWithConcurrentWritersAndReaders compacts repeatedly while
// writers save and readers read: every acknowledged write is there after.
func TestCompactWithConcurrentWritersAndReaders(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{})
	fillW1(t, s, 5, 10)
	var mu sync.Mutex
	acked := map[string]string{} // id -> thread
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			thread := fmt.Sprint("live-", w)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, err := s.Save(ctx, thread, map[string]any{"i": i}, nil)
				if err != nil {
					t.Errorf("save: %v", err)
					return
				}
				mu.Lock()
				acked[id] = thread
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "thread-1"}); err != nil {
				t.Errorf("read during compaction: %v", err)
				return
			}
		}
	})
	// Each compaction is followed by a write acknowledged after it began
	// (not just five compactions back to back, which on a loaded machine
	// could all end before a writer was scheduled once).
	acks := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for range 5 {
		before := acks()
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for acks() == before && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	boltCheck(t, path)
	s2, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for id, thread := range acked {
		if _, err := s2.Load(ctx, thread, id); err != nil {
			t.Fatalf("acknowledged write %s/%s lost: %v", thread, id, err)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no write ran during the test")
	}
}

func TestCompactCancelledKeepsOldFile(t *testing.T) {
	t.Parallel()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, path := openTemp(t, ckpt.WithCompactHook(ckpt.Options{Durability: ckpt.NoSync}, func(stage string) {
		if stage == "copying" {
			cancel()
		}
	}))
	fillW1(t, s, 20, 30) // well over the keys between two context checks
	want := dumpAll(t, s)
	if _, err := s.Compact(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled compaction: %v", err)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	if got := dumpAll(t, s); !reflect.DeepEqual(got, want) {
		t.Fatal("data changed")
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
}

// The kill test: a child process (this test binary, re-executed) opens a
// store, keeps saving from one goroutine and compacts from another; the
// parent SIGKILLs it at a given stage of the compaction, then reopens the
// file and checks that bbolt finds it consistent, that every checkpoint
// written before is intact, and that every save the child acknowledged is
// there.
const (
	envChildPath  = "CKPT_COMPACT_CHILD_PATH"
	envChildStage = "CKPT_COMPACT_CHILD_STAGE"
)

func TestCompactSurvivesKill(t *testing.T) {
	t.Parallel()
	// "copying": half the keys copied; "synced": new file fsync'd, not yet
	// renamed; "renamed": renamed, directory not yet fsync'd; "swapped":
	// new handle in use, old one not yet closed; "any": killed after a few
	// full compactions, wherever the child is.
	base, basePath := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	fillW1(t, base, 20, 20)
	if _, err := base.GC(ctx, ckpt.Policy{KeepLast: 5}); err != nil {
		t.Fatal(err)
	}
	want := dumpAll(t, base)
	if err := base.Close(); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"copying", "synced", "renamed", "swapped", "any"} {
		t.Run(stage, func(t *testing.T) {
			path := t.TempDir() + "/store.db"
			data, err := os.ReadFile(basePath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(testchild.Binary(), "-test.run=^TestCompactKillChild$", "-test.count=1")
			cmd.Env = childEnv(envChildPath+"="+path, envChildStage+"="+stage)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]bool{}
			killed, compactions := false, 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				switch {
				case len(f) == 2 && f[0] == "ack":
					acked[f[1]] = true
				case len(f) == 2 && f[0] == "stage" && f[1] == stage && !killed,
					len(f) == 1 && f[0] == "compacted" && stage == "any" && !killed && compactions == 3:
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true
				case len(f) == 1 && f[0] == "compacted":
					compactions++
				}
			}
			err = cmd.Wait()
			if !killed {
				t.Fatalf("child ended before stage %q: %v", stage, err)
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("child was not killed: %v", err)
			}

			boltCheck(t, path)
			s, err := ckpt.Open(path, ckpt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Open left the dead compaction's file: %v", err)
			}
			var got []string
			for _, line := range dumpAll(t, s) {
				if !strings.Contains(line, "ThreadID:live") {
					got = append(got, line)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("data changed: %d checkpoints, want %d", len(got), len(want))
			}
			if len(acked) == 0 {
				t.Fatal("the child acknowledged no write")
			}
			for id := range acked {
				if _, err := s.Load(ctx, "live", id); err != nil {
					t.Fatalf("acknowledged write %s lost: %v", id, err)
				}
			}
			checkInvariants(t, s)
		})
	}
}

// TestCompactKillChild is the child of TestCompactSurvivesKill; it does
// nothing in a normal test run.
func TestCompactKillChild(t *testing.T) {
	t.Parallel()
	path := os.Getenv(envChildPath)
	if path == "" {
		t.Skip("runs only as the child process of TestCompactSurvivesKill")
	}
	stage := os.Getenv(envChildStage)
	s, err := ckpt.Open(path, ckpt.WithCompactHook(ckpt.Options{}, func(st string) {
		fmt.Printf("stage %s\n", st)
		if st == stage {
			time.Sleep(time.Hour) // wait here for the parent's SIGKILL
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	saved := make(chan struct{}, 1)
	go func() {
		for i := 0; ; i++ {
			id, err := s.Save(ctx, "live", map[string]any{"i": i}, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "save:", err)
				return
			}
			fmt.Printf("ack %s\n", id)
			select {
			case saved <- struct{}{}:
			default:
			}
		}
	}()
	for {
		<-saved // let some saves through between compactions
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		fmt.Println("compacted")
	}
}

// dataPages is how many bytes of pages the closed file at path holds
// (bbolt's high-water mark), and its page size.
func dataPages(t *testing.T, path string) (used, page int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	return used, int64(db.Info().PageSize)
}
