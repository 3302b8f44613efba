// Command w3 measures workload W3 "retention" of bench/WORKLOAD.md: W1 with
// 1,000 threads x 100 steps (100,000 checkpoints), then GC keeping the
// latest 5 checkpoints per thread, then Compact. It prints the prune time
// and the file size before, after the prune and after compaction, and
// compares the compacted file with a fresh store holding only the kept
// data.
//
//	go run ./bench/w3                     # the full W3
//	go run ./bench/w3 -threads 100 -steps 20   # a quick look
//	go run ./bench/w3 -filled /tmp/w3-filled.db  # keep the filled file, reuse it next time
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

var ctx = context.Background()

func main() {
	threads := flag.Int("threads", 1000, "W1 threads (T)")
	steps := flag.Int("steps", 100, "W1 steps per thread (S)")
	payload := flag.Int("payload", 200, "message payload bytes (P)")
	contextBytes := flag.Int("context", 1024, "context bytes (C)")
	keep := flag.Int("keep", 5, "checkpoints kept per thread")
	filled := flag.String("filled", "", "a copy of the store after the fill: used instead of filling if it exists, written after the fill if not (the fill is the slow part)")
	probe := flag.Bool("probe", false, "run a writer (durable Save in a loop) during the prune and the compaction and report its latencies")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the prune to this file")
	dir := flag.String("dir", "", "directory for the store files (default: a new temporary directory, removed at the end)")
	flag.Parse()

	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "ckpt-w3-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	path := filepath.Join(work, "w3.db")
	freshPath := filepath.Join(work, "fresh.db")
	for _, p := range []string{path, freshPath} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			log.Fatal(err)
		}
	}

	// Fill: one writer, NoSync (the file's content and layout do not depend
	// on fsync; W3 measures retention, not write speed).
	reused := false
	if *filled != "" {
		if _, err := os.Stat(*filled); err == nil {
			copyFile(*filled, path)
			reused = true
		}
	}
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	if !reused {
		fillW1(s, *threads, *steps, *payload, *contextBytes)
	}
	if err := s.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fillTime := time.Since(start)
	// Closing between stages lets bbolt itself report what the file holds.
	reopen := func() {
		if err := s.Close(); err != nil {
			log.Fatal(err)
		}
		if s, err = ckpt.Open(path, ckpt.Options{}); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	before := measure(path)
	if *filled != "" && !reused {
		copyFile(path, *filled)
	}
	if s, err = ckpt.Open(path, ckpt.Options{}); err != nil {
		log.Fatal(err)
	}

	// Prune with the store's default durability (every transaction fsync'd).
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	var stopProbe func() latencies
	if *probe {
		stopProbe = startProbe(s, "probe-prune")
	}
	start = time.Now()
	st, err := s.GC(ctx, ckpt.Policy{KeepLast: *keep})
	if err != nil {
		log.Fatal(err)
	}
	pruneTime := time.Since(start)
	pprof.StopCPUProfile()
	var pruneProbe, compactProbe latencies
	if *probe {
		pruneProbe = stopProbe()
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	pruned := measure(path)
	if s, err = ckpt.Open(path, ckpt.Options{}); err != nil {
		log.Fatal(err)
	}

	if *probe {
		stopProbe = startProbe(s, "probe-compact")
	}
	start = time.Now()
	cst, err := s.Compact(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	compactTime := time.Since(start)
	if *probe {
		compactProbe = stopProbe()
	}
	reopen()

	kept, err := copyKept(s, freshPath)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	compacted := measure(path)
	fresh := measure(freshPath)
	fs, err := ckpt.Open(freshPath, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := fs.Compact(ctx, nil); err != nil {
		log.Fatal(err)
	}
	if err := fs.Close(); err != nil {
		log.Fatal(err)
	}
	freshCompacted := measure(freshPath)

	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	fmt.Printf("W3: W1 with T=%d S=%d P=%d C=%d (%d checkpoints), keep the latest %d per thread\n", *threads, *steps, *payload, *contextBytes, *threads**steps, *keep)
	fmt.Printf("go %s, %s/%s, %d CPUs\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Printf("| figure | value |\n|---|---|\n")
	if reused {
		fmt.Printf("| fill | reused %s |\n", *filled)
	} else {
		fmt.Printf("| fill (W1, one writer, NoSync) | %.1f s |\n", fillTime.Seconds())
	}
	row := func(name string, m sizes) {
		fmt.Printf("| %s | %s (pages in use: %s, free: %s) |\n", name, mb(m.file), mb(m.used), mb(m.free))
	}
	row("file size after W1", before)
	fmt.Printf("| prune time (GC KeepLast=%d, fsync'd transactions) | %.2f s |\n", *keep, pruneTime.Seconds())
	fmt.Printf("| removed | %d checkpoints, %d writes, %d blobs, %s of keys+values |\n", st.Checkpoints, st.Writes, st.Blobs, mb(st.BytesFreed))
	row("file size after prune", pruned)
	if *probe {
		fmt.Printf("| Save latency of a concurrent writer during the prune | %s |\n", pruneProbe)
	}
	fmt.Printf("| compaction time | %.2f s |\n", compactTime.Seconds())
	row("file size after compaction", compacted)
	fmt.Printf("| Compact's own report | %s -> %s |\n", mb(cst.BytesBefore), mb(cst.BytesAfter))
	if *probe {
		fmt.Printf("| Save latency of a concurrent writer during the compaction | %s |\n", compactProbe)
	}
	row(fmt.Sprintf("fresh store holding only the kept data (%d checkpoints, written by Put/PutWrites)", kept), fresh)
	row("that fresh store, compacted", freshCompacted)
	fmt.Printf("| compacted / fresh: file size | %.2f |\n", float64(compacted.file)/float64(fresh.file))
	fmt.Printf("| compacted / fresh: pages in use | %.2f |\n", float64(compacted.used)/float64(fresh.used))
	fmt.Printf("| compacted / fresh compacted: pages in use | %.2f |\n", float64(compacted.used)/float64(freshCompacted.used))
}

// sizes of a closed store file: on disk, and as bbolt sees it. bbolt grows
// a file in steps (doubling up to 1 GB, then 16 MB at a time), so the file
// size of a small store is coarse; the pages in use are not.
type sizes struct {
	file, used, free int64
}

func measure(path string) sizes {
	// Read-write, so bbolt loads the freelist (it does not read-only).
	db, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	var m sizes
	m.file = size(path)
	err = db.View(func(tx *bolt.Tx) error {
		st := db.Stats()
		m.free = int64(st.FreePageN+st.PendingPageN) * int64(db.Info().PageSize)
		m.used = tx.Size() - m.free // pages up to the high-water mark, minus the free ones
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// latencies of the probe writer's saves, sorted.
type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "no save completed"
	}
	q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("%d saves: p50 %s, p99 %s, max %s", len(l), r(q(0.5)), r(q(0.99)), r(l[len(l)-1]))
}

// startProbe saves to thread in a loop (durably, one at a time) until the
// returned function is called, which returns the latencies.
func startProbe(s *ckpt.Store, thread string) func() latencies {
	stop := make(chan struct{})
	done := make(chan latencies)
	go func() {
		var l latencies
		for i := 0; ; i++ {
			select {
			case <-stop:
				slices.Sort(l)
				done <- l
				return
			default:
			}
			t := time.Now()
			if _, err := s.Save(ctx, thread, map[string]any{"i": i}, nil); err != nil {
				log.Fatal(err)
			}
			l = append(l, time.Since(t))
		}
	}()
	return func() latencies {
		close(stop)
		return <-done
	}
}

func copyFile(from, to string) {
	src, err := os.Open(from)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		log.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		log.Fatal(err)
	}
}

func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		log.Fatal(err)
	}
	return fi.Size()
}

// text returns n bytes of lowercase words from a xorshift64 generator
// seeded with seed (WORKLOAD.md's text(seed, n)).
func text(seed uint64, n int) string {
	x := seed*0x9E3779B97F4A7C15 + 1
	next := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	b := make([]byte, 0, n)
	word := 0
	for len(b) < n {
		r := next()
		if word >= 2 && (word >= 10 || r%7 == 0) {
			b = append(b, ' ')
			word = 0
			continue
		}
		b = append(b, byte('a'+r%26))
		word++
	}
	return string(b)
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// fillW1 runs W1: steps round-robin over threads, a Put and a PutWrites
// per step.
func fillW1(s *ckpt.Store, threads, steps, payload, contextBytes int) {
	msgs := make([][]message, threads)
	parents := make([]ckpt.Config, threads)
	for step := range steps {
		for th := range threads {
			role := "assistant"
			node := "tools"
			if step%2 == 0 {
				role, node = "user", "answer"
			}
			m := message{Role: role, Content: text(uint64(th)*1_000_003+uint64(step), payload)}
			msgs[th] = append(msgs[th], m)
			ver := fmt.Sprint(step + 1)
			cp := ckpt.Checkpoint{
				V:               4,
				ChannelValues:   map[string]any{"messages": msgs[th], "turn_count": step + 1},
				ChannelVersions: map[string]string{"messages": ver, "turn_count": ver, "context": "1"},
			}
			newVersions := map[string]string{"messages": ver, "turn_count": ver}
			if step == 0 {
				cp.ChannelValues["context"] = text(uint64(th), contextBytes)
				newVersions["context"] = "1"
				parents[th] = ckpt.Config{ThreadID: fmt.Sprint("thread-", th)}
			}
			md := ckpt.Metadata{"source": "loop", "step": step, "node": node, "route": "generate", "reason": "normal", "run_id": fmt.Sprint("run-", th)}
			c, err := s.Put(ctx, parents[th], cp, md, newVersions)
			if err != nil {
				log.Fatal(err)
			}
			if err := s.PutWrites(ctx, c, []ckpt.Write{{Channel: "messages", Value: m}, {Channel: "turn_count", Value: step + 1}}, fmt.Sprint("task-", step), ""); err != nil {
				log.Fatal(err)
			}
			parents[th] = c
		}
	}
}

// copyKept writes what s holds into a new store at path, through the
// public API (the same ids, metadata, values and pending writes; a thread's
// oldest kept checkpoint has no parent there, since Put needs the parent to
// exist). It returns the number of checkpoints copied.
func copyKept(s *ckpt.Store, path string) (int, error) {
	dst, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		return 0, err
	}
	byThread := map[string][]*ckpt.Tuple{}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			return 0, err
		}
		byThread[tp.Config.ThreadID] = append(byThread[tp.Config.ThreadID], tp)
	}
	n := 0
	for _, thread := range slices.Sorted(maps.Keys(byThread)) {
		tuples := byThread[thread]
		slices.Reverse(tuples) // oldest first
		parent := ckpt.Config{ThreadID: thread}
		var prev map[string]string
		for _, tp := range tuples {
			newVersions := map[string]string{}
			for ch, v := range tp.Checkpoint.ChannelVersions {
				if prev[ch] != v {
					newVersions[ch] = v
				}
			}
			c, err := dst.Put(ctx, parent, tp.Checkpoint, tp.Metadata, newVersions)
			if err != nil {
				return n, err
			}
			tasks := map[string][]ckpt.Write{}
			for _, w := range tp.PendingWrites {
				tasks[w.TaskID] = append(tasks[w.TaskID], ckpt.Write{Channel: w.Channel, Value: w.Value})
			}
			for task, ws := range tasks {
				if err := dst.PutWrites(ctx, c, ws, task, ""); err != nil {
					return n, err
				}
			}
			parent, prev = c, tp.Checkpoint.ChannelVersions
			n++
		}
	}
	return n, dst.Close()
}
