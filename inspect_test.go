package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newInspectStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "inspect.db"), Options{Durability: NoSync}) // tests need no fsync
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// putChain stores n checkpoints on thread/ns; channel "a" changes every
// time, channel "b" only at the first, so later checkpoints share b.
func putChain(t *testing.T, s *Store, thread, ns string, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	parent := ""
	for i := range n {
		vers := map[string]string{"a": version(i), "b": "1"}
		newVers := map[string]string{"a": version(i)}
		if i == 0 {
			newVers["b"] = "1"
		}
		cfg, err := s.Put(ctx, Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent},
			Checkpoint{ChannelValues: map[string]any{"a": i, "b": "shared value"}, ChannelVersions: vers},
			Metadata{"step": i}, newVers)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, cfg, []Write{{Channel: "a", Value: i + 1}, {Channel: ChannelError, Value: "boom"}}, "task", "path"); err != nil {
			t.Fatal(err)
		}
		parent = cfg.CheckpointID
		ids = append(ids, parent)
	}
	return ids
}

func version(i int) string { return string(rune('a'+i)) + "-v" }

func TestThreadsSummarisesEveryThread(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	putChain(t, s, "t1", "", 3)
	ids := putChain(t, s, "t1", "sub", 2)
	putChain(t, s, "t2", "", 1)
	var got []ThreadInfo
	for info, err := range s.Threads(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info)
	}
	if len(got) != 2 || got[0].ThreadID != "t1" || got[1].ThreadID != "t2" {
		t.Fatalf("threads = %+v", got)
	}
	t1 := got[0]
	if t1.Checkpoints != 5 || t1.PendingWrites != 10 || !reflect.DeepEqual(t1.Namespaces, []string{"", "sub"}) || t1.NewestID != ids[1] || t1.Bytes <= 0 {
		t.Fatalf("t1 = %+v", t1)
	}
	one, err := s.Thread(context.Background(), "t2")
	if err != nil || one.Checkpoints != 1 {
		t.Fatalf("Thread(t2) = %+v, %v", one, err)
	}
	if _, err := s.Thread(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Thread(nope) = %v, want ErrNotFound", err)
	}
}

func TestStatsCountsSharedChannels(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	putChain(t, s, "t", "", 4)
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 4 checkpoints x 2 channels; b is shared by checkpoints 2..4.
	if st.Threads != 1 || st.Checkpoints != 4 || st.PendingWrites != 8 || st.ChannelValues != 5 ||
		st.ChannelRefs != 8 || st.SharedRefs != 3 {
		t.Fatalf("stats = %+v", st)
	}
	want := int64(3 * (len(blobKey("", "b", "1")) + len(encodeBlob(0, nil, mustEncode(t, "shared value"), false))))
	if st.SharedBytes != want {
		t.Fatalf("SharedBytes = %d, want %d", st.SharedBytes, want)
	}
	if st.FileBytes <= 0 || st.PageSize <= 0 || len(st.Buckets) != 7 {
		t.Fatalf("file stats = %+v", st)
	}
}

func mustEncode(t *testing.T, v any) Raw {
	t.Helper()
	r, err := encodeValue("test", v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyPassesOnAHealthyStore(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	putChain(t, s, "t", "", 3)
	putChain(t, s, "t", "sub", 2)
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Threads != 1 || rep.Checkpoints != 5 || rep.IndexEntries != 5 || rep.PendingWrites != 10 {
		t.Fatalf("report = %+v", rep)
	}
}

// TestVerifyReportsEachBrokenInvariant breaks one invariant at a time
// behind the store's back and checks Verify names exactly that.
func TestVerifyReportsEachBrokenInvariant(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		break_ func(w writer, id [idLen]byte) error
		want   Problem
	}{
		{"metadata missing", func(w writer, id [idLen]byte) error {
			return w.Del(threadPath("t", bucketMetadata), checkpointKey("", id))
		}, Problem{Check: "metadata", Thread: "t", Detail: "checkpoint has no metadata record"}},
		{"metadata undecodable", func(w writer, id [idLen]byte) error {
			return w.Put(threadPath("t", bucketMetadata), checkpointKey("", id), []byte{metadataRecordV1, 0xc1})
		}, Problem{Check: "metadata", Thread: "t", Detail: "metadata does not decode: ckpt: corrupt data: metadata record: msgpack: unexpected code=c1 decoding map length"}},
		{"checkpoint record of unknown version", func(w writer, id [idLen]byte) error {
			return w.Put(threadPath("t", bucketCheckpoints), checkpointKey("", id), []byte{9})
		}, Problem{Check: "checkpoint", Thread: "t", Detail: "record does not decode: ckpt: checkpoint record of unknown version 9 (this build reads 1, 2, 194, 242 and 106): the record is damaged, or a later build wrote it"}},
		{"referenced value missing", func(w writer, id [idLen]byte) error {
			return w.Del(threadPath("t", bucketBlobs), blobKey("", "a", version(1)))
		}, Problem{Check: "value", Thread: "t", Detail: `channel "a" version "b-v": no value stored`}},
		{"index entry missing", func(w writer, id [idLen]byte) error {
			return w.Del(bucketPath{bucketIndex}, indexKey(id, "t", ""))
		}, Problem{Check: "index", Thread: "t", Detail: "checkpoint missing from the global index"}},
		{"order entry missing", func(w writer, id [idLen]byte) error {
			return w.Del(threadPath("t", bucketOrder), orderKey(id, ""))
		}, Problem{Check: "order", Thread: "t", Detail: "checkpoint missing from the thread's history order"}},
		{"checkpoint missing, indexes remain", func(w writer, id [idLen]byte) error {
			if err := w.Del(threadPath("t", bucketCheckpoints), checkpointKey("", id)); err != nil {
				return err
			}
			if err := w.Del(threadPath("t", bucketMetadata), checkpointKey("", id)); err != nil {
				return err
			}
			return w.Del(threadPath("t", bucketWrites), writeKey("", id, "task", 0))
		}, Problem{Check: "write", Thread: "t", Detail: `pending write (task "task", idx -1) of a checkpoint that is not stored`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newInspectStore(t)
			ids := putChain(t, s, "t", "", 3)
			id, err := parseID("id", ids[1])
			if err != nil {
				t.Fatal(err)
			}
			if err := s.write(context.Background(), func(w writer) error { return c.break_(w, id) }); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("Verify found nothing")
			}
			want := c.want
			want.CheckpointID = ids[1]
			for _, p := range rep.Problems {
				if p == want {
					return
				}
			}
			t.Fatalf("Verify problems = %v, want one %v", rep.Problems, want)
		})
	}
}

func TestVerifyReportsOrphanIndexEntries(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	putChain(t, s, "t", "", 1)
	ghost := [idLen]byte{1, 2, 3}
	err := s.write(context.Background(), func(w writer) error {
		if err := w.Put(bucketPath{bucketIndex}, indexKey(ghost, "t", ""), nil); err != nil {
			return err
		}
		return w.Put(threadPath("t", bucketOrder), orderKey(ghost, ""), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{Check: "order", Thread: "t", CheckpointID: idString(ghost), Detail: "history order entry for a checkpoint that is not stored"},
		{Check: "index", Thread: "t", CheckpointID: idString(ghost), Detail: "global index entry for a checkpoint that is not stored"},
	}
	if !reflect.DeepEqual(rep.Problems, want) {
		t.Fatalf("problems = %v, want %v", rep.Problems, want)
	}
}

func TestThreadsPagesThroughManyThreads(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	const n = 2*threadsPage + 5
	for i := range n {
		if _, err := s.Save(context.Background(), fmt.Sprintf("t%03d", i), map[string]any{"i": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	for info, err := range s.Threads(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("t%03d", i); info.ThreadID != want || info.Checkpoints != 1 {
			t.Fatalf("thread %d = %+v, want %s", i, info, want)
		}
		i++
	}
	if i != n {
		t.Fatalf("Threads yielded %d threads, want %d", i, n)
	}
}

// TestVerifyWhileWriting runs Verify on a store that other goroutines keep
// writing to: it must see a consistent store (and -race must stay quiet).
func TestVerifyWhileWriting(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				if _, err := s.Save(ctx, fmt.Sprintf("w%d", w), map[string]any{"i": i, "same": "x"}, nil); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	for range 5 {
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("Verify during writes: %+v, %v", rep, err)
		}
	}
	close(stop)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolveIDByPrefix(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		time.Sleep(2 * time.Millisecond) // ids of different milliseconds differ in their first 10 characters
		ids = append(ids, putChain(t, s, "t", "", 1)[0])
	}
	// putChain starts a new history each time; all three are in thread t.
	for _, id := range ids {
		got, err := s.ResolveID(ctx, "t", "", strings.ToLower(id[:12]))
		if err != nil || got != id {
			t.Fatalf("ResolveID(%s) = %s, %v; want %s", id[:12], got, err, id)
		}
	}
	if got, err := s.ResolveID(ctx, "t", "", ids[0]); err != nil || got != ids[0] {
		t.Fatalf("whole id: %s, %v", got, err)
	}
	if _, err := s.ResolveID(ctx, "t", "", ids[0][:1]); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "is the start of 3 checkpoint ids") {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if _, err := s.ResolveID(ctx, "t", "", "7ZZZ"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no match: %v", err)
	}
	// No id starts with 8-Z (its first character holds 3 bits of time).
	if _, err := s.ResolveID(ctx, "t", "", "ZZZZ"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("a prefix no id can have: %v", err)
	}
	if _, err := s.ResolveID(ctx, "t", "", "not-an-id"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad characters: %v", err)
	}
}

// TestOpenTruncatedFileIsErrCorrupt: a file cut short (a copy interrupted,
// a full disk) is refused at Open with ErrCorrupt, read-only or not,
// instead of faulting on the missing pages later.
func TestOpenTruncatedFileIsErrCorrupt(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	for i := range 200 {
		if _, err := s.Save(context.Background(), fmt.Sprintf("t%d", i%7), map[string]any{"v": strings.Repeat("x", 500), "i": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, readOnly := range []bool{true, false} {
		cut := filepath.Join(t.TempDir(), "cut.db")
		if err := os.WriteFile(cut, whole[:len(whole)/3], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(cut, Options{ReadOnly: readOnly})
		if err == nil {
			_ = s.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open(truncated, ReadOnly=%v) = %v, want ErrCorrupt", readOnly, err)
		}
	}
}

func TestStatsReportsBytesSavedByAppendDeltas(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{Durability: NoSync})
	ctx := context.Background()
	var msgs []string
	for i := range 200 {
		msgs = append(msgs, strings.Repeat("m", 100)+fmt.Sprint(i))
		if _, err := s.Save(ctx, "t", map[string]any{"messages": msgs}, nil); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Whole, 200 versions of a growing list hold about 200*201/2 messages;
	// as deltas each message is stored about once or twice.
	if st.ListVersions != 200 || st.ListWholeBytes < 100*200*200/2 || st.ListSegmentBytes > 3*200*110 || st.DeltaSavedBytes != st.ListWholeBytes-st.ListSegmentBytes {
		t.Fatalf("stats: %+v", st)
	}
}
