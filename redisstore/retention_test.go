package redisstore

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// history puts n checkpoints on thread/ns (channel "count" changes every
// step, "const" is written once by the first) with one pending write each,
// and returns their configs oldest first.
func history(t *testing.T, s *Store, thread, ns string, n int, meta func(i int) ckpt.Metadata) []ckpt.Config {
	t.Helper()
	var out []ckpt.Config
	parent := ckpt.Config{ThreadID: thread, CheckpointNS: ns}
	for i := 1; i <= n; i++ {
		cp := ckpt.Checkpoint{
			ChannelValues:   map[string]any{"count": i, "const": "c"},
			ChannelVersions: map[string]string{"count": strconv.Itoa(i), "const": "1"},
		}
		nv := map[string]string{"count": strconv.Itoa(i)}
		if i == 1 {
			nv["const"] = "1"
		}
		var md ckpt.Metadata
		if meta != nil {
			md = meta(i)
		}
		c, err := s.Put(bg, parent, cp, md, nv)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: i}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
		parent = c
	}
	return out
}

func ids(t *testing.T, s *Store, opts ckpt.ListOptions) []string {
	t.Helper()
	var out []string
	for tp, err := range s.List(bg, opts) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tp.Config.CheckpointID)
	}
	return out
}

// checkFull asserts c loads with both channels and its one pending write.
func checkFull(t *testing.T, s *Store, c ckpt.Config, n int) {
	t.Helper()
	tp, err := s.GetTuple(bg, c)
	if err != nil {
		t.Fatalf("%+v: %v", c, err)
	}
	var count int
	var cst string
	if tp.Decode("count", &count) != nil || count != n || tp.Decode("const", &cst) != nil || cst != "c" {
		t.Fatalf("%+v: values %v", c, tp.Checkpoint.ChannelValues)
	}
	if len(tp.PendingWrites) != 1 {
		t.Fatalf("%+v: writes %v", c, tp.PendingWrites)
	}
}

func hlen(t *testing.T, s *Store, thread string, k threadKind) int64 {
	n, err := s.Client().HLen(bg, s.keys.thread(thread)[k]).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneKeepLatestKeepsNewestPerNamespaceWithWritesAndBlobs(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	root := history(t, s, "p", "", 5, nil)
	sub := history(t, s, "p", "sub", 3, nil)
	other := history(t, s, "other", "", 4, nil)

	st, err := s.PruneStats(bg, []string{"p"}, ckpt.PruneKeepLatest)
	if err != nil {
		t.Fatal(err)
	}
	// 6 checkpoints, their 6 writes, and the "count" blobs of the 6 (the
	// "const" blobs written by the first checkpoints stay: the kept ones read them).
	if st != (PruneStats{Checkpoints: 6, Writes: 6, Blobs: 6}) {
		t.Fatalf("stats %+v", st)
	}
	checkFull(t, s, root[4], 5)
	checkFull(t, s, sub[2], 3)
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "p"}); !slices.Equal(got, []string{sub[2].CheckpointID, root[4].CheckpointID}) {
		t.Fatalf("left %v", got)
	}
	if _, err := s.GetTuple(bg, root[3]); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("pruned checkpoint: %v", err)
	}
	tp, _ := s.GetTuple(bg, root[4])
	if tp.ParentConfig == nil || *tp.ParentConfig != root[3] {
		t.Fatalf("kept checkpoint's parent config %+v, want %+v", tp.ParentConfig, root[3])
	}
	if n := hlen(t, s, "p", kBlobs); n != 4 {
		t.Fatalf("%d blobs left, want 4 (count and const per namespace)", n)
	}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "other"}); len(got) != len(other) {
		t.Fatalf("other thread touched: %v", got)
	}
	if err := s.Prune(bg, nil, ckpt.PruneKeepLatest); err != nil {
		t.Fatalf("empty list: %v", err)
	}
	if err := s.Prune(bg, []string{"unknown"}, ckpt.PruneKeepLatest); err != nil {
		t.Fatalf("unknown thread: %v", err)
	}
	if err := s.Prune(bg, []string{""}, ckpt.PruneKeepLatest); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Fatalf("empty thread id: %v", err)
	}
}

func TestPruneDeleteRemovesTheThreads(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	history(t, s, "a", "", 3, nil)
	history(t, s, "b", "x", 2, nil)
	keep := history(t, s, "c", "", 2, nil)
	if err := s.Prune(bg, []string{"a", "b"}, ckpt.PruneDelete); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, ckpt.ListOptions{}); !slices.Equal(got, []string{keep[1].CheckpointID, keep[0].CheckpointID}) {
		t.Fatalf("left %v", got)
	}
	n, _ := s.Client().Exists(bg, s.keys.thread("a")...).Result()
	if n != 0 {
		t.Fatalf("%d keys of a deleted thread remain", n)
	}
}

func TestKeepLastOptionTrimsOnEveryPut(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{KeepLast: 3})
	root := history(t, s, "k", "", 10, nil)
	sub := history(t, s, "k", "sub", 2, nil)
	want := []string{sub[1].CheckpointID, sub[0].CheckpointID, root[9].CheckpointID, root[8].CheckpointID, root[7].CheckpointID}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "k"}); !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	for i := 7; i < 10; i++ {
		checkFull(t, s, root[i], i+1)
	}
	// 3 count blobs + const in root, 2 count + const in sub.
	if n := hlen(t, s, "k", kBlobs); n != 7 {
		t.Fatalf("%d blobs, want 7", n)
	}
	if n := hlen(t, s, "k", kWrites); n != 5 {
		t.Fatalf("%d writes, want 5", n)
	}
	if got := ids(t, s, ckpt.ListOptions{}); len(got) != 5 {
		t.Fatalf("global index holds %d, want 5", len(got))
	}
}

func TestKeepLastMethod(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	root := history(t, s, "m", "", 6, nil)
	st, err := s.KeepLast(bg, []string{"m"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Checkpoints != 4 || st.Writes != 4 {
		t.Fatalf("stats %+v", st)
	}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "m"}); !slices.Equal(got, []string{root[5].CheckpointID, root[4].CheckpointID}) {
		t.Fatalf("left %v", got)
	}
	if _, err := s.KeepLast(bg, []string{"m"}, 0); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Fatalf("n=0: %v", err)
	}
}

func TestCopyThread(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	root := history(t, s, "src", "", 3, nil)
	sub := history(t, s, "src", "sub", 2, nil)
	if err := s.CopyThread(bg, "src", "dst", ckpt.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	srcIDs := ids(t, s, ckpt.ListOptions{ThreadID: "src"})
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "dst"}); !slices.Equal(got, srcIDs) {
		t.Fatalf("copy order %v, source %v", got, srcIDs)
	}
	for i, c := range root {
		c.ThreadID = "dst"
		checkFull(t, s, c, i+1)
		tp, _ := s.GetTuple(bg, c)
		if i > 0 && (tp.ParentConfig == nil || tp.ParentConfig.ThreadID != "dst" || tp.ParentConfig.CheckpointID != root[i-1].CheckpointID) {
			t.Fatalf("copied parent %+v", tp.ParentConfig)
		}
	}
	c := sub[1]
	c.ThreadID = "dst"
	checkFull(t, s, c, 2)
	if got := ids(t, s, ckpt.ListOptions{}); len(got) != 10 {
		t.Fatalf("global index lists %d, want 10", len(got))
	}
	// The copy continues on its own; the source is unchanged.
	if _, err := s.Put(bg, c, ckpt.Checkpoint{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "src"}); !slices.Equal(got, srcIDs) {
		t.Fatalf("source changed: %v", got)
	}

	if err := s.CopyThread(bg, "src", "dst", ckpt.CopyOptions{}); !errors.Is(err, ckpt.ErrExists) {
		t.Fatalf("existing destination: %v, want ErrExists", err)
	}
	if err := s.CopyThread(bg, "src", "dst", ckpt.CopyOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "dst"}); !slices.Equal(got, srcIDs) {
		t.Fatalf("replaced copy %v, want %v", got, srcIDs)
	}
	if got := ids(t, s, ckpt.ListOptions{}); len(got) != 10 {
		t.Fatalf("global index lists %d after replace, want 10", len(got))
	}
	if err := s.CopyThread(bg, "missing", "x", ckpt.CopyOptions{}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("missing source: %v", err)
	}
	if err := s.CopyThread(bg, "src", "src", ckpt.CopyOptions{Replace: true}); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Fatalf("copy onto itself: %v", err)
	}
}

func TestDeleteForRunsSpansNamespacesAndLeavesOtherRuns(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	run := func(i int) ckpt.Metadata {
		if i <= 2 {
			return ckpt.Metadata{"run_id": "run-1"}
		}
		return ckpt.Metadata{"run_id": "run-2"}
	}
	a := history(t, s, "a", "", 4, run)
	b := history(t, s, "a", "sub", 3, run)
	history(t, s, "c", "", 2, run)
	if err := s.DeleteForRuns(bg, []string{"run-1"}); err != nil {
		t.Fatal(err)
	}
	want := []string{b[2].CheckpointID, a[3].CheckpointID, a[2].CheckpointID}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "a"}); !slices.Equal(got, want) {
		t.Fatalf("thread a left %v, want %v", got, want)
	}
	if got := ids(t, s, ckpt.ListOptions{ThreadID: "c"}); len(got) != 0 {
		t.Fatalf("thread c left %v", got)
	}
	// Kept checkpoints still read the blob ("const") their deleted
	// ancestors wrote.
	checkFull(t, s, a[2], 3)
	checkFull(t, s, b[2], 3)
	if err := s.DeleteForRuns(bg, nil); err != nil {
		t.Fatal(err)
	}
}

// TestThreadTTLExpiresWholeThreadAndIsRefreshedByWrites: every key of a
// thread a store with ThreadTTL writes expires within ThreadTTL, a later
// write gives every key of its thread the whole ThreadTTL again, and a
// thread whose keys expired reads as not found, refuses a put on its
// history (ErrNotFound) and loses its index entries to SweepIndex.
//
// ThreadTTL is an hour and the test moves the thread's time on itself
// (PEXPIRE): it used to be 300 ms, with the busy thread kept alive by
// writes 100 ms apart, and a loaded machine that delayed one write past
// 300 ms expired the thread it kept alive (or the history being built).
func TestThreadTTLExpiresWholeThreadAndIsRefreshedByWrites(t *testing.T) {
	const ttl = time.Hour
	s := newTestStore(t, sharedServer(t), Options{ThreadTTL: ttl})
	c := history(t, s, "ttl", "", 2, nil)
	keep := history(t, s, "busy", "", 1, nil)
	for _, k := range s.keys.thread("ttl") {
		if ms, _ := s.Client().PTTL(bg, k).Result(); ms <= 0 || ms > ttl {
			t.Fatalf("key %q has TTL %v", k, ms)
		}
	}
	// The busy thread's time runs short (a minute left); a write gives
	// every key of it the whole TTL again.
	busy := s.keys.thread("busy")
	for _, k := range busy {
		if err := s.Client().PExpire(bg, k, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutWrites(bg, keep[0], []ckpt.Write{{Channel: "x", Value: 1}}, "again", ""); err != nil {
		t.Fatal(err)
	}
	for _, k := range busy {
		if ms, err := s.Client().PTTL(bg, k).Result(); err != nil || ms <= time.Minute || ms > ttl {
			t.Fatalf("after a write, key %q has TTL %v (%v), want more than a minute, at most %v", k, ms, err, ttl)
		}
	}
	// The idle thread's time runs out now: every key of it goes.
	gone := s.keys.thread("ttl")
	for _, k := range gone {
		if err := s.Client().PExpire(bg, k, time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := s.Client().Exists(bg, gone...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.GetTuple(bg, c[1]); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("expired thread still readable: %v", err)
	}
	if _, err := s.Put(bg, c[1], ckpt.Checkpoint{}, nil, nil); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("put on an expired history: %v, want ErrNotFound", err)
	}
	// SweepIndex removes the expired thread's two index entries.
	if n, err := s.SweepIndex(bg); err != nil || n != 2 {
		t.Fatalf("SweepIndex = %d, %v; want 2", n, err)
	}
	if n, err := s.SweepIndex(bg); err != nil || n != 0 {
		t.Fatalf("second SweepIndex = %d, %v; want 0", n, err)
	}
	if got := ids(t, s, ckpt.ListOptions{}); !slices.Equal(got, []string{keep[0].CheckpointID}) {
		t.Fatalf("listed %v, want only the busy thread", got)
	}
	if n, _ := s.Client().ZCard(bg, s.keys.index()).Result(); n != 1 {
		t.Fatalf("index holds %d entries, want 1", n)
	}
}

func TestListRemovesIndexEntriesOfExpiredThreads(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{ThreadTTL: time.Hour})
	history(t, s, "gone", "", 3, nil)
	// The thread's time runs out now (a TTL as short as the history takes
	// to build, on a loaded machine, expired it before it was built).
	keys := s.keys.thread("gone")
	for _, k := range keys {
		if err := s.Client().PExpire(bg, k, time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := s.Client().Exists(bg, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if got := ids(t, s, ckpt.ListOptions{}); len(got) != 0 {
		t.Fatalf("listed %v", got)
	}
	s.waitCleanup() // List removes them in the background
	if n, _ := s.Client().ZCard(bg, s.keys.index()).Result(); n != 0 {
		t.Fatalf("index holds %d entries after List met them, want 0", n)
	}
}
