package ckpt_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/checkpointtest"
	bolt "go.etcd.io/bbolt"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

var ctx = context.Background()

func openTemp(t testing.TB, opts ckpt.Options) (*ckpt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	t.Parallel()
	checkpointtest.Run(t, func(t *testing.T) ckpt.Saver {
		s, _ := openTemp(t, ckpt.Options{})
		return s
	})
}

// The direct path (every group committed to bbolt itself) passes the same
// kit.
func TestConformanceNoWAL(t *testing.T) {
	t.Parallel()
	checkpointtest.Run(t, func(t *testing.T) ckpt.Saver {
		s, _ := openTemp(t, ckpt.Options{NoWAL: true})
		return s
	})
}

// An encrypted store passes the same kit: what it compares (a put sent
// again, a version reused) it compares opened, not as sealed bytes.
func TestConformanceEncrypted(t *testing.T) {
	t.Parallel()
	checkpointtest.Run(t, func(t *testing.T) ckpt.Saver {
		key := ckpt.Key{ID: 7}
		for i := range key.Secret {
			key.Secret[i] = byte(3 * i)
		}
		s, _ := openTemp(t, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key}}})
		return s
	})
}

func TestSaveLoadRoundTripAcrossReopen(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{})
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	state := map[string]any{"messages": []msg{{"user", "summarise this"}}, "turn_count": 1}
	id1, err := s.Save(ctx, "t", state, ckpt.Metadata{"node": "answer", "route": "generate", "reason": "normal"})
	if err != nil {
		t.Fatal(err)
	}
	state["messages"] = []msg{{"user", "summarise this"}, {"assistant", "done"}}
	state["turn_count"] = 2
	id2, err := s.Save(ctx, "t", state, ckpt.Metadata{"node": "answer"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	latest, err := s.Latest(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if latest.CheckpointID != id2 || latest.ParentID != id1 {
		t.Fatalf("latest %s parent %s, want %s parent %s", latest.CheckpointID, latest.ParentID, id2, id1)
	}
	var msgs []msg
	if err := latest.Decode("messages", &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].Content != "done" {
		t.Fatalf("messages %+v", msgs)
	}
	first, err := s.Load(ctx, "t", id1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := first.StateMap()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"messages": []any{map[string]any{"role": "user", "content": "summarise this"}}, "turn_count": int64(1)}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("first state %#v", st)
	}
	if first.Metadata["node"] != "answer" {
		t.Fatalf("metadata %v", first.Metadata)
	}
	var ids []string
	for snap, err := range s.History(ctx, "t", ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, snap.CheckpointID)
	}
	if !reflect.DeepEqual(ids, []string{id2, id1}) {
		t.Fatalf("history %v", ids)
	}
}

func TestSaveStoresOnlyChangedChannels(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	big := strings.Repeat("context ", 1000)
	id1, err := s.Save(ctx, "t", map[string]any{"context": big, "n": 1, "gone": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.Save(ctx, "t", map[string]any{"context": big, "n": 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// Save's versions are the ids of the checkpoints that wrote them.
	want := map[string]string{"context": id1, "n": id2}
	if !reflect.DeepEqual(tp.Checkpoint.ChannelVersions, want) {
		t.Fatalf("versions %v, want %v (context unchanged keeps version 1, gone is dropped)", tp.Checkpoint.ChannelVersions, want)
	}
	var n int
	if err := tp.Decode("n", &n); err != nil || n != 2 {
		t.Fatalf("n = %d, %v", n, err)
	}
}

func TestConcurrentSavesDoNotMixThreads(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	const threads, steps = 8, 20
	var wg sync.WaitGroup
	for th := range threads {
		wg.Go(func() {
			for step := range steps {
				if _, err := s.Save(ctx, fmt.Sprintf("t%d", th), map[string]any{"owner": th, "step": step}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for th := range threads {
		n := 0
		for snap, err := range s.History(ctx, fmt.Sprintf("t%d", th), ckpt.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			var owner, step int
			if err := snap.Decode("owner", &owner); err != nil || owner != th {
				t.Fatalf("thread %d holds owner %d (%v)", th, owner, err)
			}
			if err := snap.Decode("step", &step); err != nil || step != steps-1-n {
				t.Fatalf("thread %d history item %d has step %d", th, n, step)
			}
			n++
		}
		if n != steps {
			t.Fatalf("thread %d has %d checkpoints", th, n)
		}
	}
}

// Put and PutWrites name the channel or write that does not encode (the
// description is built only then).
func TestErrEncodeNamesPutChannelAndWrite(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	cp := ckpt.Checkpoint{V: 4, ChannelValues: map[string]any{"bad": make(chan int)}, ChannelVersions: map[string]string{"bad": "1"}}
	_, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, cp, nil, map[string]string{"bad": "1"})
	if !errors.Is(err, ckpt.ErrEncode) || !strings.Contains(err.Error(), `channel "bad"`) {
		t.Fatalf("Put: err = %v, want ErrEncode naming the channel", err)
	}
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{V: 4}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "ok", Value: 1}, {Channel: "w", Value: func() {}}}, "task", "")
	if !errors.Is(err, ckpt.ErrEncode) || !strings.Contains(err.Error(), `write 1 (channel "w")`) {
		t.Fatalf("PutWrites: err = %v, want ErrEncode naming the write", err)
	}
}

func TestErrEncodeNamesChannelAndPath(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	state := map[string]any{"messages": []any{"ok", map[string]any{"content": make(chan int)}}}
	_, err := s.Save(ctx, "t", state, nil)
	if !errors.Is(err, ckpt.ErrEncode) {
		t.Fatalf("err = %v, want ErrEncode", err)
	}
	if !strings.Contains(err.Error(), `channel "messages"[1].content`) {
		t.Fatalf("error does not name the path: %v", err)
	}
	_, err = s.Save(ctx, "t", map[string]any{"ok": 1}, ckpt.Metadata{"bad": func() {}})
	if !errors.Is(err, ckpt.ErrEncode) || !strings.Contains(err.Error(), "metadata.bad") {
		t.Fatalf("metadata err = %v", err)
	}
	if _, err := s.Latest(ctx, "t"); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("failed saves left data: %v", err)
	}
}

func TestErrClosed(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"Put":          func() error { _, err := s.Put(ctx, cfg, ckpt.Checkpoint{}, nil, nil); return err }(),
		"PutWrites":    s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "a", Value: 1}}, "t", ""),
		"GetTuple":     func() error { _, err := s.GetTuple(ctx, cfg); return err }(),
		"DeleteThread": s.DeleteThread(ctx, "t"),
		"Save":         func() error { _, err := s.Save(ctx, "t", nil, nil); return err }(),
		"Flush":        s.Flush(ctx),
		"Close":        s.Close(),
	}
	for _, err := range s.List(ctx, ckpt.ListOptions{}) {
		checks["List"] = err
	}
	for name, err := range checks {
		if !errors.Is(err, ckpt.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestErrLockedWithinTimeout(t *testing.T) {
	t.Parallel()
	_, path := openTemp(t, ckpt.Options{})
	start := time.Now()
	_, err := ckpt.Open(path, ckpt.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ckpt.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the file: %v", err)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Fatalf("waited %v", waited) // a hang, not a timing threshold
	}
}

func TestOpenRejectsForeignAndDamagedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ckpt.Open(garbage, ckpt.Options{}); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Errorf("garbage file: %v, want ErrCorrupt", err)
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := ckpt.Open(foreign, ckpt.Options{}); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Errorf("foreign bbolt file: %v, want ErrCorrupt", err)
	}

	future := filepath.Join(dir, "future.db")
	s, err := ckpt.Open(future, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err = bolt.Open(future, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		// A newer build writes the marker's sum too: CRC-32C of the
		// key's name and the marker.
		v := []byte{0, 0, 0, 99}
		tab := crc32.MakeTable(crc32.Castagnoli)
		sum := crc32.Update(crc32.Checksum([]byte("format"), tab), tab, v)
		if err := tx.Bucket([]byte("meta")).Put([]byte("format-sum"), binary.BigEndian.AppendUint32(nil, sum)); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("format"), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := ckpt.Open(future, ckpt.Options{}); !errors.Is(err, ckpt.ErrFormatVersion) {
		t.Errorf("future format: %v, want ErrFormatVersion", err)
	}

	if _, err := ckpt.Open(filepath.Join(dir, "missing.db"), ckpt.Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file read-only: %v, want os.ErrNotExist", err)
	}
}

func TestCorruptRecordIsErrCorrupt(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{})
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{}, ckpt.Metadata{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the metadata record in place (keep the record version byte).
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("threads")).Bucket([]byte("t")).Bucket([]byte("md"))
		k, _ := b.Cursor().First()
		return b.Put(k, []byte{1, 0xc1})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetTuple(ctx, cfg); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("damaged metadata: %v, want ErrCorrupt", err)
	}
}

func TestReadOnlyRejectsWrites(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{})
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Latest(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Save(ctx, "t", map[string]any{"a": 2}, nil); !errors.Is(err, ckpt.ErrReadOnly) {
		t.Fatalf("write on read-only store: %v", err)
	}
}

func TestContextCancellationIsHonoured(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{}, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v", err)
	}
	if _, err := s.GetTuple(cctx, ckpt.Config{ThreadID: "t"}); !errors.Is(err, context.Canceled) {
		t.Errorf("GetTuple: %v", err)
	}
	for _, err := range s.List(cctx, ckpt.ListOptions{}) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("List: %v", err)
		}
	}
	if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("cancelled put was written: %v", err)
	}
}

// TestListStreamsWithBoundedMemory writes 100k checkpoints and lists them
// all: the heap in use while listing stays far below what holding every
// tuple would take.
func TestListStreamsWithBoundedMemory(t *testing.T) {
	// The listing runs in a child process (listChild) and measures its own
	// heap there, which the tests running beside this one cannot grow: so
	// the test can run in parallel with them instead of holding up the
	// whole package while it writes.
	t.Parallel()
	if testing.Short() {
		t.Skip("writes 100k checkpoints")
	}
	// The child writes the checkpoints too: they are the setup, not what
	// is tested, and a child runs without the race detector (testchild),
	// which made the 100k writes most of this test's CPU time.
	path := filepath.Join(t.TempDir(), "list.db")
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv(listChildEnv + "=" + path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("list child: %v: %s", err, stderr.String())
	}
	var count int
	var base, peak uint64
	if _, err := fmt.Sscan(string(out), &count, &base, &peak); err != nil {
		t.Fatalf("list child printed %q: %v", out, err)
	}
	if count != listChildCheckpoints {
		t.Fatalf("listed %d, want %d", count, listChildCheckpoints)
	}
	// Holding 100k tuples would take well over 50 MB; one page is a few KB.
	if grown := int64(peak) - int64(base); grown > 8<<20 {
		t.Fatalf("heap grew by %d bytes while listing", grown)
	}
}

// listChildEnv names the store file listChild lists.
const listChildEnv = "CKPT_LIST_CHILD"

// listChildCheckpoints is how many checkpoints listChild writes and lists.
const listChildCheckpoints = 100_000

// listChild is the child of TestListStreamsWithBoundedMemory: it writes
// listChildCheckpoints checkpoints into a new store at path (fillForList),
// opens it read-only, lists every checkpoint and prints the count, the
// heap in use before listing and the most it held while listing (sampled
// every 5,000 tuples), and returns the exit code.
func listChild(path string) int {
	if err := fillForList(path); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		return 3
	}
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	defer s.Close()
	runtime.GC()
	var base, ms runtime.MemStats
	runtime.ReadMemStats(&base)
	peak, count := uint64(0), 0
	for _, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "list:", err)
			return 3
		}
		count++
		if count%5000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	fmt.Println(count, base.HeapAlloc, peak)
	return 0
}

// fillForList writes listChildCheckpoints small checkpoints over ten
// threads from 16 writers. Async: puts are grouped up to a thousand per
// commit; NoWAL writes each record once (to bbolt) instead of twice (log,
// then bbolt): the listing reads bbolt either way.
func fillForList(path string) error {
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.Async, NoWAL: true})
	if err != nil {
		return err
	}
	payload := strings.Repeat("x", 200)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < listChildCheckpoints; i += 16 {
				cp := ckpt.Checkpoint{ChannelValues: map[string]any{"m": payload}, ChannelVersions: map[string]string{"m": "1"}}
				if _, err := s.Put(ctx, ckpt.Config{ThreadID: fmt.Sprintf("t%d", i%10)}, cp, ckpt.Metadata{"i": i}, map[string]string{"m": "1"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		_ = s.Close()
		return err
	}
	return s.Close()
}

func TestConcurrentSavesOnOneThreadFormOneChain(t *testing.T) {
	t.Parallel()
	for _, dur := range []ckpt.Durability{ckpt.Sync, ckpt.Async} {
		t.Run(dur.String(), func(t *testing.T) {
			s, _ := openTemp(t, ckpt.Options{Durability: dur})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := range 10 {
						if _, err := s.Save(ctx, "shared", map[string]any{"w": w, "i": i}, nil); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var hist []*ckpt.Snapshot
			for snap, err := range s.History(ctx, "shared", ckpt.ListOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				hist = append(hist, snap)
			}
			if len(hist) != 80 {
				t.Fatalf("%d checkpoints, want 80", len(hist))
			}
			for i := 0; i+1 < len(hist); i++ {
				if hist[i].ParentID != hist[i+1].CheckpointID {
					t.Fatalf("checkpoint %d's parent is %s, the next older is %s: the thread forked", i, hist[i].ParentID, hist[i+1].CheckpointID)
				}
			}
		})
	}
}
