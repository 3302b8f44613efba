package ckpt_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestNamespaceCheckNoFalseCorruptBesideWriters: on a clean store with
// many threads and namespaces, the Lists that check a thread's namespaces
// against the directory (of a thread, of every thread, of one namespace of
// every thread, with limits, bounds and filters) and Threads never fail
// while writers start namespaces and threads, DeleteForRuns removes
// namespaces whole, Prune and GC thin them and DeleteThread and GC's
// ThreadTTL drop threads: a namespace is listed and unlisted in the
// transactions that write its first and delete its last checkpoint, and
// each check reads one snapshot.
func TestNamespaceCheckNoFalseCorruptBesideWriters(t *testing.T) {
	t.Parallel()
	s, err := ckpt.Open(t.TempDir()+"/busy.db", ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const threads = 12
	put := func(thread, ns, run string, n int) error {
		parent := ""
		if tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}); err == nil {
			parent = tp.Config.CheckpointID
		}
		for step := range n {
			vers := map[string]string{"x": fmt.Sprintf("%08d", step+1)}
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent},
				ckpt.Checkpoint{ChannelValues: map[string]any{"x": step}, ChannelVersions: vers},
				ckpt.Metadata{"step": step, "run_id": run}, vers)
			if errors.Is(err, ckpt.ErrNotFound) {
				return nil // retention removed the parent meanwhile: the chain ends
			}
			if err != nil {
				return err
			}
			parent = cfg.CheckpointID
		}
		return nil
	}
	for i := range threads {
		for r := range 3 {
			run := fmt.Sprint("seed", r)
			if err := put(fmt.Sprint("t", i), "", run, 2); err != nil {
				t.Fatal(err)
			}
			if err := put(fmt.Sprint("t", i), fmt.Sprint("sub|", run), run, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	rounds := huntRounds(40, 12)
	done := make(chan struct{})
	var wg sync.WaitGroup
	fail := func(what string, err error) {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	wg.Add(2)
	go func() { // a run a round: the root namespace, a subgraph's, now and then a thread
		defer wg.Done()
		for r := range rounds {
			run := fmt.Sprint("r", r)
			thread := fmt.Sprint("t", r%threads)
			fail("put root", put(thread, "", run, 2))
			fail("put subgraph", put(thread, "sub|"+run, run, 3))
			fail("put new thread", put(fmt.Sprint("new", r), "sub", run, 2))
		}
	}()
	go func() { // retention, a step a round
		defer wg.Done()
		for r := range rounds {
			switch {
			case r == rounds/2: // every thread dropped, in chunks, as writers go on
				_, err := s.GC(ctx, ckpt.Policy{ThreadTTL: time.Nanosecond})
				fail("GC ThreadTTL", err)
			case r%5 == 0:
				fail("DeleteForRuns", s.DeleteForRuns(ctx, []string{fmt.Sprint("seed", r/5%3), fmt.Sprint("r", r-3)}))
			case r%5 == 1:
				fail("Prune", s.Prune(ctx, []string{fmt.Sprint("t", r%threads)}, ckpt.PruneKeepLatest))
			case r%5 == 2:
				_, err := s.GC(ctx, ckpt.Policy{KeepLast: 2})
				fail("GC", err)
			case r%5 == 3:
				fail("DeleteThread", s.DeleteThread(ctx, fmt.Sprint("new", r-2)))
			case r%5 == 4:
				fail("Prune delete", s.Prune(ctx, []string{fmt.Sprint("new", r-4)}, ckpt.PruneDelete))
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	var readers sync.WaitGroup
	var lists [2]int
	for g := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				thread := fmt.Sprint("t", (i+g)%threads)
				for _, opts := range []ckpt.ListOptions{
					{ThreadID: thread},
					{ThreadID: thread, Limit: 3},
					{ThreadID: thread, Filter: map[string]any{"step": 1}},
					{},
					{Limit: 5},
					{Filter: map[string]any{"step": 2}},
					{Namespace: ckpt.NS("")},
				} {
					for _, err := range s.List(ctx, opts) {
						if err != nil {
							t.Errorf("List %+v: %v", opts, err)
							return
						}
					}
					lists[g]++
				}
				for _, err := range s.Threads(ctx) {
					if err != nil {
						t.Errorf("Threads: %v", err)
						return
					}
				}
			}
		}()
	}
	readers.Wait()
	<-done // a reader that failed returned early
	t.Logf("%d rounds, %d Lists beside them", rounds, lists[0]+lists[1])
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
}

// BenchmarkListThreadManyNamespaces is a List of a thread's 10 newest
// checkpoints (every namespace) when the thread holds 50 checkpoints in
// its root namespace and 1,000 subgraph namespaces of 2 checkpoints each,
// older: the cost of checking each namespace the directory lists
// (list_namespaces.go), once per List.
func BenchmarkListThreadManyNamespaces(b *testing.B) {
	s, err := ckpt.Open(b.TempDir()+"/many.db", ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	put := func(ns string, n int) {
		parent := ""
		for step := range n {
			vers := map[string]string{"x": fmt.Sprintf("%08d", step+1)}
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: parent},
				ckpt.Checkpoint{ChannelValues: map[string]any{"x": step}, ChannelVersions: vers}, ckpt.Metadata{"step": step}, vers)
			if err != nil {
				b.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	for i := range 1000 {
		put(fmt.Sprintf("sub:%04d", i), 2)
	}
	put("", 50)
	if err := s.ApplyLog(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t", Limit: 10}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10 {
			b.Fatalf("listed %d", n)
		}
	}
}
