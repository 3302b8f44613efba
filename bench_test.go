package ckpt_test

// Benchmarks of the hot paths, for `go test -bench . -run '^$'` and
// benchstat. The workload figures (W1, W2, side by side with the peer) are
// in bench/ (`go run ./bench`); these are the calls underneath them, on a
// W1-shaped step: a message list, a turn count, W1's metadata and two
// pending writes. Sync benchmarks measure the disk as much as the code:
// compare them only on a quiet machine; the NoSync ones show code changes.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

type benchMsg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// benchMessages returns n messages of about 200 bytes.
func benchMessages(n int) []benchMsg {
	out := make([]benchMsg, n)
	for i := range out {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		out[i] = benchMsg{Role: role, Content: strings.Repeat(fmt.Sprintf("word%d ", i%97), 200/7)}
	}
	return out
}

// benchStep builds step s of a W1-shaped thread whose message list holds
// msgs messages.
func benchStep(s int, msgs []benchMsg) (ckpt.Checkpoint, ckpt.Metadata, map[string]string, []ckpt.Write) {
	ver := strconv.Itoa(s + 1)
	cp := ckpt.Checkpoint{
		V:               4,
		ChannelValues:   map[string]any{"messages": msgs, "turn_count": s + 1},
		ChannelVersions: map[string]string{"messages": ver, "turn_count": ver},
	}
	node := "answer"
	if s%2 == 1 {
		node = "tools"
	}
	meta := ckpt.Metadata{"source": "loop", "step": s, "node": node, "route": "generate", "reason": "normal", "run_id": "run-0"}
	writes := []ckpt.Write{{Channel: "messages", Value: msgs[len(msgs)-1]}, {Channel: "turn_count", Value: s + 1}}
	return cp, meta, map[string]string{"messages": ver, "turn_count": ver}, writes
}

// benchMode is a way to write that the write benchmarks run in.
type benchMode struct {
	name string
	opts ckpt.Options
}

// benchModes: Sync and NoSync on the real disk, and fakesync: Sync with the
// log's fsync replaced by a 100 µs sleep in the kernel (fakeFsync), about
// this machine's fsync on a quiet day. Its fsync does not wander with what
// else uses the disk, so a change of the commit pipeline (the hand-offs
// around the fsync, group sizes) shows in it apart from the disk's noise.
var benchModes = []benchMode{
	{"sync", ckpt.Options{Durability: ckpt.Sync}},
	{"nosync", ckpt.Options{Durability: ckpt.NoSync}},
	{"fakesync", ckpt.WithLogSync(ckpt.Options{Durability: ckpt.Sync}, fakeFsync(100*time.Microsecond))},
}

func BenchmarkPut(b *testing.B) {
	msgs := benchMessages(10)
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, _ := openTemp(b, m.opts)
			parent := ""
			lat := startLatencies()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				cp, meta, nv, _ := benchStep(i, msgs)
				t0 := time.Now()
				cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent}, cp, meta, nv)
				if err != nil {
					b.Fatal(err)
				}
				lat.add(t0)
				parent = cfg.CheckpointID
			}
			lat.report(b)
		})
	}
}

func BenchmarkPutWrites(b *testing.B) {
	msgs := benchMessages(10)
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, _ := openTemp(b, m.opts)
			cp, meta, nv, writes := benchStep(0, msgs)
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, cp, meta, nv)
			if err != nil {
				b.Fatal(err)
			}
			lat := startLatencies()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// a new task each time, so no write is skipped as a duplicate
				t0 := time.Now()
				if err := s.PutWrites(ctx, cfg, writes, "task-"+strconv.Itoa(i), ""); err != nil {
					b.Fatal(err)
				}
				lat.add(t0)
			}
			lat.report(b)
		})
	}
}

func BenchmarkPutFull(b *testing.B) {
	msgs := benchMessages(10)
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, _ := openTemp(b, m.opts)
			parent := ""
			lat := startLatencies()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				cp, meta, nv, writes := benchStep(i, msgs)
				t0 := time.Now()
				cfg, err := s.PutFull(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent}, cp, meta, nv,
					[]ckpt.TaskWrites{{TaskID: "task-" + strconv.Itoa(i), Writes: writes}})
				if err != nil {
					b.Fatal(err)
				}
				lat.add(t0)
				parent = cfg.CheckpointID
			}
			lat.report(b)
		})
	}
}

// stepLatencies collects the latency of each call of a one-writer
// benchmark and reports its median (p50-µs): on a shared machine a few
// calls stalled by other processes for milliseconds move ns/op by 20-50%
// between runs, while the median call shows what the code costs.
// It reports the process's CPU per call too (cpu-µs/op: the commit
// loop, the syncer, the applier, the GC and the hand-offs between them).
type stepLatencies struct {
	d    []time.Duration
	cpu0 time.Duration
}

func startLatencies() *stepLatencies { return &stepLatencies{cpu0: processCPU()} }

func (l *stepLatencies) add(t0 time.Time) { l.d = append(l.d, time.Since(t0)) }

func (l *stepLatencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	if cpu := processCPU() - l.cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(l.d)), "cpu-µs/op")
	}
	slices.Sort(l.d)
	b.ReportMetric(float64(l.d[len(l.d)/2].Nanoseconds())/1e3, "p50-µs")
}

// filledStore returns a store with one thread of n W1-shaped steps (each
// with its pending writes) and their ids, oldest first.
func filledStore(b testing.TB, n int) (*ckpt.Store, []string) {
	b.Helper()
	s, _ := openTemp(b, ckpt.Options{Durability: ckpt.NoSync})
	msgs := benchMessages(10)
	ids := make([]string, 0, n)
	parent := ""
	for i := range n {
		cp, meta, nv, writes := benchStep(i, msgs)
		cfg, err := s.PutFull(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent}, cp, meta, nv,
			[]ckpt.TaskWrites{{TaskID: "task-" + strconv.Itoa(i), Writes: writes}})
		if err != nil {
			b.Fatal(err)
		}
		parent = cfg.CheckpointID
		ids = append(ids, parent)
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return s, ids
}

// The newest checkpoint is one seek: the time should not grow with the
// history behind it.
func BenchmarkGetTupleLatest(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("history="+strconv.Itoa(n), func(b *testing.B) {
			s, _ := filledStore(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A new thread's first GetTuple, a LangGraph-style caller's hot path: not
// found, which costs a look in the directory of threads (thread_dir.go).
func BenchmarkGetTupleNewThread(b *testing.B) {
	s, _ := filledStore(b, 10)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "new-" + strconv.Itoa(i)}); !errors.Is(err, ckpt.ErrNotFound) {
			b.Fatal(err)
		}
	}
}

// A new namespace's first GetTuple in a thread that exists, a LangGraph
// subgraph's hot path (it reads a new namespace every run): not found,
// which costs one seek in the directory of threads (thread_dir.go).
func BenchmarkGetTupleNewNamespace(b *testing.B) {
	s, _ := filledStore(b, 10)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointNS: "sub:" + strconv.Itoa(i)}); !errors.Is(err, ckpt.ErrNotFound) {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetTupleByID(b *testing.B) {
	s, ids := filledStore(b, 1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: ids[(i*7919)%len(ids)]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderGetTupleLatest and BenchmarkReaderGetTupleByID are the
// two above through a Reader: the same read path (Store.view, the snapshot,
// the read gate, the metrics) without a new block for the values each call,
// so the difference to the plain benchmarks is what that block costs.
func BenchmarkReaderGetTupleLatest(b *testing.B) {
	s, _ := filledStore(b, 10)
	r := s.NewReader()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.GetTuple(ctx, ckpt.Config{ThreadID: "t"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderGetTupleByID(b *testing.B) {
	s, ids := filledStore(b, 1000)
	r := s.NewReader()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := r.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: ids[(i*7919)%len(ids)]}); err != nil {
			b.Fatal(err)
		}
	}
}

// A List page of 10 reads 10 tuples whatever the history behind them: its
// time and allocations must not grow with the history (issue 18: at most
// 150 allocations, at 100 and at 10,000 checkpoints).
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{100, 10000} {
		s, _ := filledStore(b, n)
		for _, c := range []struct {
			name   string
			filter map[string]any
		}{{"limit=10", nil}, {"limit=10,filter=node", map[string]any{"node": "tools"}}} {
			b.Run("history="+strconv.Itoa(n)+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					n := 0
					for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t", Namespace: ckpt.NS(""), Limit: 10, Filter: c.filter}) {
						if err != nil {
							b.Fatal(err)
						}
						n++
					}
					if n != 10 {
						b.Fatalf("listed %d, want 10", n)
					}
				}
			})
		}
	}
}

func BenchmarkEncodeMessages(b *testing.B) {
	for _, n := range []int{10, 100} {
		msgs := benchMessages(n)
		b.Run("messages="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ckpt.EncodeValueForBench(msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeMessages(b *testing.B) {
	benchDecodeMessages(b, func(raw ckpt.Raw) (int, error) {
		var out []benchMsg
		err := raw.Decode(&out)
		return len(out), err
	})
}

// BenchmarkDecodeMessagesAny is BenchmarkDecodeMessages into a generic
// []any (each message a map[string]any), as an app without a message type
// decodes.
func BenchmarkDecodeMessagesAny(b *testing.B) {
	benchDecodeMessages(b, func(raw ckpt.Raw) (int, error) {
		var out []any
		err := raw.Decode(&out)
		return len(out), err
	})
}

// benchDecodeMessages times decode (which returns how many messages it
// decoded) on lists of 10 and 100 encoded messages.
func benchDecodeMessages(b *testing.B, decode func(ckpt.Raw) (int, error)) {
	for _, n := range []int{10, 100} {
		raw, err := ckpt.EncodeValueForBench(benchMessages(n))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("messages="+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				got, err := decode(raw)
				if err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("decoded %d messages", got)
				}
			}
		})
	}
}

// BenchmarkLatestOfLongThread reads the newest checkpoint of a 2,000-step
// W2-shaped thread (2,000 messages) and decodes its messages, with the list
// stored as append-deltas (the default) and stored whole at every step
// (DeltaFold < 0): issue 6 asks the first to be within 1.5x of the second.
func BenchmarkLatestOfLongThread(b *testing.B) {
	const steps = 2000
	all := benchMessages(steps)
	for _, mode := range []struct {
		name string
		fold int
	}{{"deltas", 0}, {"whole", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			s, err := ckpt.Open(b.TempDir()+"/long.db", ckpt.Options{Durability: ckpt.NoSync, DeltaFold: mode.fold})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			parent := ckpt.Config{ThreadID: "t"}
			for step := range steps {
				cp, meta, nv, _ := benchStep(step, all[:step+1])
				if parent, err = s.Put(ctx, parent, cp, meta, nv); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
				if err != nil {
					b.Fatal(err)
				}
				var msgs []benchMsg
				if err := tp.Decode("messages", &msgs); err != nil || len(msgs) != steps {
					b.Fatalf("%d messages, %v", len(msgs), err)
				}
			}
		})
	}
}

// BenchmarkDeltaFold measures K (Options.DeltaFold) on a 2,000-step
// W2-shaped thread: the time of the latest read (GetTuple, values left
// encoded: the store's part, ns/op) and the list's live stored bytes per
// step (segments and references, B/step). Folding more often (small K)
// rewrites more bytes (each item once per level: about log_K(n) times);
// folding rarely (large K) leaves more segments a level to read. The
// default was 32 with one level of folding; with levels it is 8, for
// W1's lists (bench/RESULTS.md).
func BenchmarkDeltaFold(b *testing.B) {
	const steps = 2000
	all := benchMessages(steps)
	for _, k := range []int{4, 8, 16, 32, 64, 128} {
		b.Run("K="+strconv.Itoa(k), func(b *testing.B) {
			s, err := ckpt.Open(b.TempDir()+"/fold.db", ckpt.Options{Durability: ckpt.NoSync, DeltaFold: k})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			parent := ckpt.Config{ThreadID: "t"}
			for step := range steps {
				cp, meta, nv, _ := benchStep(step, all[:step+1])
				if parent, err = s.Put(ctx, parent, cp, meta, nv); err != nil {
					b.Fatal(err)
				}
			}
			st, err := s.Stats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.ListSegmentBytes)/steps, "B/step")
		})
	}
}

// BenchmarkPutFullParallel runs 16 writers on threads of their own, as W1's
// concurrent figures do: what group commit shares.
func BenchmarkPutFullParallel(b *testing.B) {
	msgs := benchMessages(10)
	parallelWriters(b, func(s *ckpt.Store, newThread func() string, pb *testing.PB) {
		thread, parent := newThread(), ""
		for i := 0; pb.Next(); i++ {
			cp, meta, nv, writes := benchStep(i, msgs)
			cfg, err := s.PutFull(ctx, ckpt.Config{ThreadID: thread, CheckpointID: parent}, cp, meta, nv,
				[]ckpt.TaskWrites{{TaskID: "task-" + strconv.Itoa(i), Writes: writes}})
			if err != nil {
				b.Error(err)
				return
			}
			parent = cfg.CheckpointID
		}
	})
}

// parallelWriters runs body on 16 goroutines (2 cores x 8) against a fresh
// store per durability; newThread names a thread no other writer uses.
func parallelWriters(b *testing.B, body func(s *ckpt.Store, newThread func() string, pb *testing.PB)) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, _ := openTemp(b, m.opts)
			var next atomic.Int64
			newThread := func() string { return "t" + strconv.FormatInt(next.Add(1), 10) }
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ReportAllocs()
			m0, cpu0 := s.Metrics(), processCPU()
			b.RunParallel(func(pb *testing.PB) { body(s, newThread, pb) })
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			}
			reportGroups(b, m0, s.Metrics())
		})
	}
}

// reportGroups reports how the writes of a concurrent benchmark were
// grouped: writes per group and per log fsync, the share of the run the
// log's fsyncs took (fsync-busy; near 1, the disk is the bound) and their
// mean latency, and the bytes written per write.
// These move with the commit pipeline, not with the machine's noise.
func reportGroups(b *testing.B, m0, m1 ckpt.Metrics) {
	writes := float64(m1.GroupWrites - m0.GroupWrites)
	if g := m1.Groups - m0.Groups; g > 0 {
		b.ReportMetric(writes/float64(g), "writes/group")
	}
	if n := m1.Fsyncs - m0.Fsyncs; n > 0 {
		b.ReportMetric(writes/float64(n), "writes/fsync")
		b.ReportMetric(float64(m1.FsyncLatency.Sum-m0.FsyncLatency.Sum)/float64(b.Elapsed()), "fsync-busy")
		b.ReportMetric(float64((m1.FsyncLatency.Sum-m0.FsyncLatency.Sum).Microseconds())/float64(n), "fsync-µs")
	}
	// What the disk is asked to write per call: the log's records and the
	// applier's bbolt pages (the pages a batch touches, written again by
	// each batch that touches them).
	if writes > 0 {
		b.ReportMetric(float64(m1.LogBytes-m0.LogBytes)/writes, "log-B/write")
		b.ReportMetric(float64(m1.BoltBytes-m0.BoltBytes)/writes, "bolt-B/write")
	}
}

// BenchmarkPutFullParallelGrowing is BenchmarkPutFullParallel with W1's
// message list: it grows by one message a step (an append-delta to the
// list's lineage, a fold every DeltaFold steps), and a writer starts a new
// thread every 50 steps, as W1 does (bench/w1.go). The list work of the
// commit loop (comparing the new list with the stored one, appending,
// folding) is here, which a list that never changes skips.
func BenchmarkPutFullParallelGrowing(b *testing.B) { benchParallelGrowing(b, true) }

// BenchmarkPutParallelGrowing is BenchmarkPutFullParallelGrowing with a
// Put and then a PutWrites per step (two commits), the shape of the bench's
// headline figure for 16 writers (Put+PutWrites).
func BenchmarkPutParallelGrowing(b *testing.B) { benchParallelGrowing(b, false) }

func benchParallelGrowing(b *testing.B, full bool) {
	const steps = 50
	msgs := benchMessages(steps)
	parallelWriters(b, func(s *ckpt.Store, newThread func() string, pb *testing.PB) {
		var thread, parent string
		for i := 0; pb.Next(); i++ {
			st := i % steps
			if st == 0 {
				thread, parent = newThread(), ""
			}
			cp, meta, nv, writes := benchStep(st, msgs[:st+1])
			cfg := ckpt.Config{ThreadID: thread, CheckpointID: parent}
			task := "task-" + strconv.Itoa(st)
			var err error
			if full {
				cfg, err = s.PutFull(ctx, cfg, cp, meta, nv, []ckpt.TaskWrites{{TaskID: task, Writes: writes}})
			} else if cfg, err = s.Put(ctx, cfg, cp, meta, nv); err == nil {
				err = s.PutWrites(ctx, cfg, writes, task, "")
			}
			if err != nil {
				b.Error(err)
				return
			}
			parent = cfg.CheckpointID
		}
	})
}

// BenchmarkAsyncW1 writes W1-shaped steps (Put then PutWrites) round-robin
// over 100 threads in Async mode, with a final Flush: what one commit loop
// gets through when nobody waits for fsync.
func BenchmarkAsyncW1(b *testing.B) {
	msgs := benchMessages(10)
	s, _ := openTemp(b, ckpt.Options{Durability: ckpt.Async})
	parents := make([]string, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		th := i % len(parents)
		cp, meta, nv, writes := benchStep(i/len(parents), msgs)
		cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t" + strconv.Itoa(th), CheckpointID: parents[th]}, cp, meta, nv)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.PutWrites(ctx, cfg, writes, "task", ""); err != nil {
			b.Fatal(err)
		}
		parents[th] = cfg.CheckpointID
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPutStep is one writer's W1 step as the bench's headline
// Put+PutWrites figure takes it (bench/w1.go): a Put, then a PutWrites of
// the step's two pending writes, two Sync commits; round-robin over 100
// threads whose message lists grow by one message a step up to 50, then
// start again on new threads. p50-µs is the whole step's.
func BenchmarkPutStep(b *testing.B) {
	const threads, steps = 100, 50
	msgs := benchMessages(steps)
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, _ := openTemp(b, m.opts)
			parents := make([]string, threads)
			lat := startLatencies()
			m0 := s.Metrics()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				th, st := i%threads, (i/threads)%steps
				if st == 0 {
					parents[th] = ""
				}
				thread := "t" + strconv.Itoa(i/(threads*steps)) + "-" + strconv.Itoa(th)
				cp, meta, nv, writes := benchStep(st, msgs[:st+1])
				t0 := time.Now()
				cfg, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointID: parents[th]}, cp, meta, nv)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.PutWrites(ctx, cfg, writes, "task-"+strconv.Itoa(st), ""); err != nil {
					b.Fatal(err)
				}
				lat.add(t0)
				parents[th] = cfg.CheckpointID
			}
			lat.report(b)
			reportGroups(b, m0, s.Metrics())
		})
	}
}
