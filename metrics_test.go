package ckpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// logBuffer is a slog JSON handler's output, safe for the store's
// goroutines (the syncer logs slow fsyncs) and the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON records whose msg is msg.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// one returns the single record msg, failing unless there is exactly one.
func (b *logBuffer) one(t *testing.T, msg string) map[string]any {
	t.Helper()
	recs := b.records(t, msg)
	if len(recs) != 1 {
		t.Fatalf("%d log records %q, want 1; log:\n%s", len(recs), msg, b.buf.String())
	}
	return recs[0]
}

func putValue(ctx context.Context, s *Store, parent Config, channel, version string, v any) (Config, error) {
	return s.Put(ctx, parent, Checkpoint{
		ChannelValues:   map[string]any{channel: v},
		ChannelVersions: map[string]string{channel: version},
	}, Metadata{"step": 1}, map[string]string{channel: version})
}

// Every API call is counted by kind, and every failure by the sentinel it
// wraps; the log and bbolt counters follow the writes.
func TestMetricsCountOperationsAndErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openUnapplied(t, path) // the applier waits: lag and pending bytes stay visible
	ctx := context.Background()
	base := Config{ThreadID: "t"}

	c1, err := putValue(ctx, s, base, "a", "1", "one")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := putValue(ctx, s, c1, "a", "2", "two")
	if err != nil {
		t.Fatal(err)
	}
	// A compare-and-set on a head that moved: ErrConflict.
	if _, err := putValue(WithWriteOptions(ctx, WriteOptions{IfHead: true}), s, c1, "b", "1", 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("put on an old head: %v, want ErrConflict", err)
	}
	// Different content under a used version: ErrVersionReused.
	if _, err := putValue(ctx, s, c2, "a", "1", "not one"); !errors.Is(err, ErrVersionReused) {
		t.Fatalf("put reusing a version: %v, want ErrVersionReused", err)
	}
	// An empty thread id: ErrInvalidConfig, counted as other.
	if _, err := putValue(ctx, s, Config{}, "a", "1", 1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("put without a thread: %v, want ErrInvalidConfig", err)
	}
	if err := s.PutWrites(ctx, c2, []Write{{Channel: "a", Value: 1}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: mustID(s.ids.kit.Next(time.Now())).String()}, []Write{{Channel: "a", Value: 1}}, "task", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PutWrites to a missing checkpoint: %v, want ErrNotFound", err)
	}
	if _, err := s.GetTuple(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTuple(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTuple(ctx, Config{ThreadID: "nobody"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetTuple of a missing thread: %v, want ErrNotFound", err)
	}
	n := 0
	for _, err := range s.List(ctx, ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("List yielded %d tuples, want 2", n)
	}
	for range s.List(ctx, ListOptions{Before: "not an id"}) { // an invalid option: counted as other
	}

	m := s.Metrics()
	if m.LogPendingBytes <= 0 || m.ApplierLagGroups != 3 || m.ApplierLag <= 0 {
		t.Errorf("with the applier stopped: LogPendingBytes %d, ApplierLagGroups %d (want 3: two puts and a PutWrites), ApplierLag %v",
			m.LogPendingBytes, m.ApplierLagGroups, m.ApplierLag)
	}
	if m.LogBytes != m.LogPendingBytes {
		t.Errorf("LogBytes %d, LogPendingBytes %d: nothing applied yet, want equal", m.LogBytes, m.LogPendingBytes)
	}
	if m.Groups != 3 || m.GroupWrites != 3 || m.GroupSizes[0] != 3 {
		t.Errorf("Groups %d GroupWrites %d GroupSizes %v, want 3 groups of one write", m.Groups, m.GroupWrites, m.GroupSizes)
	}
	if m.Fsyncs < 3 || m.FsyncLatency.Count != m.Fsyncs || sum(m.FsyncLatency.Buckets[:]) != m.Fsyncs || m.FsyncLatency.Sum <= 0 {
		t.Errorf("Fsyncs %d, latency %+v: want at least one per Sync group, buckets adding up", m.Fsyncs, m.FsyncLatency)
	}
	if m.BoltCommits != 0 {
		t.Errorf("BoltCommits %d before anything was applied", m.BoltCommits)
	}

	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteThread(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteThread(ctx, ""); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("DeleteThread(\"\"): %v", err)
	}
	// Two checkpoints, the older holding a large value the newer replaces:
	// GC keeping one frees it.
	c3, err := putValue(ctx, s, base, "a", "1", strings.Repeat("x", 10000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putValue(ctx, s, c3, "a", "2", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 1, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := s.BackupFile(ctx, filepath.Join(t.TempDir(), "b.db")); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Backup(nil): %v", err)
	}

	m = s.Metrics()
	wantOps := [numOps]int64{OpPut: 7, OpPutWrites: 2, OpGet: 3, OpList: 2, OpDelete: 2, OpGC: 2, OpCompact: 1, OpBackup: 3}
	if m.Ops != wantOps {
		t.Errorf("Ops %v, want %v", m.Ops, wantOps)
	}
	// Other: the empty thread (Put), the bad Before (List), the empty
	// thread (DeleteThread), the nil writer (Backup).
	wantErrs := [numErrKinds]int64{ErrKindConflict: 1, ErrKindNotFound: 2, ErrKindVersionReused: 1, ErrKindOther: 4}
	if m.Errors != wantErrs {
		t.Errorf("Errors %v, want %v", m.Errors, wantErrs)
	}
	if m.GCRuns != 1 || m.GCBytesFreed <= 0 {
		t.Errorf("GCRuns %d GCBytesFreed %d, want one run (the dry run does not count) that freed bytes", m.GCRuns, m.GCBytesFreed)
	}
	if m.CompactRuns != 1 || m.Backups != 2 {
		t.Errorf("CompactRuns %d Backups %d, want 1 and 2", m.CompactRuns, m.Backups)
	}
	// Compact applies the whole log first.
	if m.LogPendingBytes != 0 || m.ApplierLagGroups != 0 || m.ApplierLag != 0 {
		t.Errorf("after Compact: LogPendingBytes %d ApplierLagGroups %d ApplierLag %v, want all 0", m.LogPendingBytes, m.ApplierLagGroups, m.ApplierLag)
	}
	if m.BoltCommits < 2 || m.BoltBytes < 2*int64(os.Getpagesize()) || m.BoltCommitLatency.Count != m.BoltCommits {
		t.Errorf("BoltCommits %d BoltBytes %d latency count %d", m.BoltCommits, m.BoltBytes, m.BoltCommitLatency.Count)
	}
	if m.OpenSnapshots != 0 || m.Failed {
		t.Errorf("OpenSnapshots %d Failed %v, want 0 and false", m.OpenSnapshots, m.Failed)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// With NoWAL every group is a bbolt commit: groups and bbolt bytes are
// counted, the log's counters stay at zero.
func TestMetricsNoWAL(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{NoWAL: true})
	ctx := context.Background()
	if _, err := putValue(ctx, s, Config{ThreadID: "t"}, "a", "1", 1); err != nil {
		t.Fatal(err)
	}
	m := s.Metrics()
	if m.Groups != 1 || m.BoltCommits < 1 || m.BoltBytes <= 0 || m.LogBytes != 0 || m.ApplierLagGroups != 0 {
		t.Errorf("NoWAL: Groups %d BoltCommits %d BoltBytes %d LogBytes %d ApplierLagGroups %d",
			m.Groups, m.BoltCommits, m.BoltBytes, m.LogBytes, m.ApplierLagGroups)
	}
}

// A read holds a snapshot open: the gauge shows it while it runs.
func TestMetricsOpenSnapshots(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{})
	var during int64
	err := s.view(context.Background(), func(reader) error {
		during = s.Metrics().OpenSnapshots
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if during != 1 || s.Metrics().OpenSnapshots != 0 {
		t.Errorf("OpenSnapshots %d during a read, %d after; want 1 and 0", during, s.Metrics().OpenSnapshots)
	}
}

// A failed log fsync (through the syncer's test hook) fails the write with
// ErrFailed, counts it, and logs one fail-stop record with its cause.
func TestMetricsAndLogOfFailStop(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	var logs logBuffer
	s := openTestStore(t, Options{Logger: logs.logger(), tuning: &tuning{hooks: engine.Hooks{SyncLog: func(f *os.File) error {
		if failing.Load() {
			return errors.New("disk on fire")
		}
		return engine.Fdatasync(f)
	}}}})
	ctx := context.Background()
	if _, err := putValue(ctx, s, Config{ThreadID: "t"}, "a", "1", 1); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	if _, err := putValue(ctx, s, Config{ThreadID: "u"}, "a", "1", 1); !errors.Is(err, ErrFailed) {
		t.Fatalf("put with a failing fsync: %v, want ErrFailed", err)
	}
	if _, err := putValue(ctx, s, Config{ThreadID: "v"}, "a", "1", 1); !errors.Is(err, ErrFailed) {
		t.Fatalf("put after the failure: %v, want ErrFailed", err)
	}
	m := s.Metrics()
	if m.Errors[ErrKindFailed] != 2 || !m.Failed || m.Ops[OpPut] != 3 {
		t.Errorf("Errors %v Failed %v Ops[put] %d, want 2 failed of 3 puts", m.Errors, m.Failed, m.Ops[OpPut])
	}
	rec := logs.one(t, "ckpt: fail-stop: the store takes no more writes; reopen it")
	if rec["level"] != "ERROR" || rec["failed"] != "log" || !strings.Contains(rec["cause"].(string), "disk on fire") || rec["path"] != s.Path() {
		t.Errorf("fail-stop record %v", rec)
	}
}

// The Logger gets one record per event, with its numbers as attributes.
func TestLoggerRecordsEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "l.db")
	s := openUnapplied(t, path)
	ctx := context.Background()
	for _, th := range []string{"a", "b", "c"} {
		if _, err := putValue(ctx, s, Config{ThreadID: th}, "x", "1", strings.Repeat(th, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	heads := map[string]Config{}
	for _, th := range []string{"a", "b", "c"} {
		heads[th] = Config{ThreadID: th, CheckpointID: must(s.GetTuple(ctx, Config{ThreadID: th})).Config.CheckpointID}
	}
	crashed := crashCopy(t, s) // a log of three groups not in the file

	slowSync := func(f *os.File) error {
		time.Sleep(2 * time.Millisecond) // slower than SlowFsync below, whatever the disk
		return engine.Fdatasync(f)
	}
	var logs logBuffer
	r, err := Open(crashed, Options{Logger: logs.logger(), SlowFsync: time.Millisecond, tuning: &tuning{hooks: engine.Hooks{SyncLog: slowSync}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rec := logs.one(t, "ckpt: opened"); rec["groups_replayed"] != 3.0 || rec["level"] != "INFO" || rec["path"] != crashed {
		t.Errorf("open record %v, want groups_replayed 3", rec)
	}
	if got := r.Metrics().LogGroupsReplayed; got != 3 {
		t.Errorf("LogGroupsReplayed %d, want 3", got)
	}
	for _, th := range []string{"a", "b"} { // a second checkpoint: GC removes the first
		if _, err := putValue(ctx, r, heads[th], "x", "2", 1); err != nil {
			t.Fatal(err)
		}
	}
	slow := logs.records(t, "ckpt: slow fsync")
	if len(slow) == 0 || slow[0]["file"] != "write-ahead log" || slow[0]["level"] != "WARN" {
		t.Errorf("slow fsync records %v", slow)
	}
	st, err := r.GC(ctx, Policy{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rec := logs.one(t, "ckpt: gc"); rec["checkpoints"] != 2.0 || rec["level"] != "INFO" || rec["bytes_freed"] != float64(st.BytesFreed) || st.BytesFreed <= 0 {
		t.Errorf("gc record %v, stats %+v", rec, st)
	}
	cs, err := r.Compact(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec := logs.one(t, "ckpt: compact"); rec["bytes_before"] != float64(cs.BytesBefore) || rec["bytes_after"] != float64(cs.BytesAfter) {
		t.Errorf("compact record %v, stats %+v", rec, cs)
	}
	if err := r.BackupFile(ctx, filepath.Join(dir, "b.db")); err != nil {
		t.Fatal(err)
	}
	if rec := logs.one(t, "ckpt: backup"); rec["level"] != "INFO" || rec["error"] != nil {
		t.Errorf("backup record %v", rec)
	}
	if len(logs.records(t, "ckpt: fail-stop: the store takes no more writes; reopen it")) != 0 {
		t.Error("a fail-stop record from a sound store")
	}
}

// Without Options.Logger the store logs nothing, not even to slog's
// default logger.
func TestLoggerSilentByDefault(t *testing.T) {
	var logs logBuffer
	old := slog.Default()
	slog.SetDefault(logs.logger())
	defer slog.SetDefault(old)
	s := openTestStore(t, Options{SlowFsync: -1})
	ctx := context.Background()
	if _, err := putValue(ctx, s, Config{ThreadID: "a"}, "x", "1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.buf.Len() != 0 {
		t.Errorf("logged without a Logger:\n%s", logs.buf.String())
	}
}

// The metrics' cost on the hot paths, hook by hook, as a bound that a
// loaded machine's noise cannot hide (bench/RESULTS.md): what one GetTuple
// adds (its count and the open-snapshot gauge), and what one Sync write
// adds (its count, its group, its fsync's latency, its share of an apply).
func BenchmarkMetricsHooks(b *testing.B) {
	var o observer
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			func() (err error) {
				defer o.done(OpGet, &err)
				o.snapshotOpened()
				defer o.snapshotClosed()
				return nil
			}()
		}
	})
	b.Run("write", func(b *testing.B) {
		g := []*engine.Group{{Gen: 1, Size: 4000}}
		b.ReportAllocs()
		for i := uint64(1); b.Loop(); i++ {
			func() (err error) {
				defer o.done(OpPut, &err)
				o.group(1, 4000, i)
				o.fsync.record(300 * time.Microsecond)
				g[0].Gen = i
				o.applied(g)
				return nil
			}()
		}
	})
}
