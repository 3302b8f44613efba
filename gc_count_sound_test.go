package ckpt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestGCCountHoldsOnSoundStores: afb18d3's sweep refuses (ErrCorrupt) a
// namespace whose cp/ records under its prefix are fewer than the
// checkpoints ids/ names for it. On a sound store the two must agree
// whatever wrote it: chains in several namespaces (one the prefix of
// another's name, the root, one of 0xff bytes), forks, values shared
// and reused, pending writes, CopyThread with Replace, DeleteThread,
// DeleteForRuns, Prune, and GC itself, its jobs cut into many small
// transactions (small tuning) with writes between its batches (from
// Progress) and, in half the rounds, a writer running beside it. Every
// retention call returns nil, and every checkpoint left loads with every
// value its versions name. With and without the log.
func TestGCCountHoldsOnSoundStores(t *testing.T) {
	t.Parallel()
	for r := range raceRounds(t, 12, 4) {
		t.Run(fmt.Sprint(r), func(t *testing.T) {
			t.Parallel()
			gcCountRound(t, uint64(r))
		})
	}
}

func gcCountRound(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 187))
	opts := Options{Durability: NoSync, NoWAL: seed%2 == 1,
		tuning: &tuning{planLimit: 3, maxBatchJobs: 2, gcTxKeys: 12, namePage: 2}}
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	threads := []string{"t0", "t1", "t2", "t3"}
	nss := []string{"", "a", "ab", "b", "\xff\xff"}
	heads := map[[2]string]string{} // (thread, ns) -> head id
	var mu sync.Mutex               // heads, rng: the writer beside GC shares them
	step := 0
	put := func(rng *rand.Rand) error {
		mu.Lock()
		th, ns := threads[rng.IntN(len(threads))], nss[rng.IntN(len(nss))]
		parent := heads[[2]string{th, ns}]
		if rng.IntN(6) == 0 {
			parent = "" // a fork from nothing: a new chain in the namespace
		}
		step++
		n := step
		vers := map[string]string{}
		vals := map[string]any{}
		for _, ch := range []string{"x", "y", "z"}[:1+rng.IntN(3)] {
			v := fmt.Sprintf("v%03d", rng.IntN(8)) // versions reused: values shared
			vers[ch], vals[ch] = v, "value "+ch+" "+v
		}
		run := fmt.Sprint("run", rng.IntN(4))
		writes := rng.IntN(3)
		mu.Unlock()
		cfg, err := s.Put(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: parent},
			Checkpoint{ChannelValues: vals, ChannelVersions: vers}, Metadata{"step": n, "run_id": run}, vers)
		if errors.Is(err, ErrNotFound) && parent != "" {
			// Retention removed the parent meanwhile (another writer
			// put a newer head of the namespace): a new chain.
			cfg, err = s.Put(ctx, Config{ThreadID: th, CheckpointNS: ns},
				Checkpoint{ChannelValues: vals, ChannelVersions: vers}, Metadata{"step": n, "run_id": run}, vers)
		}
		if err != nil {
			return fmt.Errorf("put: %w", err)
		}
		mu.Lock()
		heads[[2]string{th, ns}] = cfg.CheckpointID
		mu.Unlock()
		for i := range writes {
			// (ErrNotFound: retention removed it meanwhile, a newer head beside it.)
			if err := s.PutWrites(ctx, cfg, []Write{{Channel: "w", Value: i}}, fmt.Sprint("task", i), ""); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("put writes: %w", err)
			}
		}
		return nil
	}
	forget := func(th string) {
		mu.Lock()
		for k := range heads {
			if k[0] == th {
				delete(heads, k)
			}
		}
		mu.Unlock()
	}
	check := func(what string) {
		t.Helper()
		n := 0
		for tup, err := range s.List(ctx, ListOptions{}) {
			if err != nil {
				t.Fatalf("seed %d, after %s: List: %v", seed, what, err)
			}
			got, err := s.GetTuple(ctx, tup.Config)
			if err != nil {
				t.Fatalf("seed %d, after %s: checkpoint %+v: %v", seed, what, tup.Config, err)
			}
			for ch, v := range got.Checkpoint.ChannelVersions {
				var s string
				if err := got.Decode(ch, &s); err != nil || s != "value "+ch+" "+v {
					t.Fatalf("seed %d, after %s: checkpoint %+v channel %q: %q, %v", seed, what, tup.Config, ch, s, err)
				}
			}
			n++
		}
	}
	for range 60 {
		if err := put(rng); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 25 {
		var what string
		var err error
		switch op := rng.IntN(10); {
		case op < 4:
			beside := rng.IntN(2) == 0
			p := Policy{KeepLast: 1 + rng.IntN(3)}
			if rng.IntN(3) == 0 {
				p = Policy{MaxAge: time.Nanosecond}
			}
			wrng := rand.New(rand.NewPCG(seed, uint64(round)))
			p.Progress = func(GCStats) {
				// A write between two of GC's batches.
				if err := put(wrng); err != nil {
					t.Error(err)
				}
			}
			var wg sync.WaitGroup
			if beside {
				brng := rand.New(rand.NewPCG(seed, 1000+uint64(round)))
				wg.Go(func() {
					for range 20 {
						if err := put(brng); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			what = fmt.Sprintf("GC %+v (writer beside: %v)", p, beside)
			_, err = s.GC(ctx, p)
			wg.Wait()
		case op < 5:
			th := threads[rng.IntN(len(threads))]
			what, err = "Prune "+th, s.Prune(ctx, []string{th}, PruneKeepLatest)
		case op < 6:
			run := fmt.Sprint("run", rng.IntN(4))
			what, err = "DeleteForRuns "+run, s.DeleteForRuns(ctx, []string{run})
			// Heads may be gone: new chains start.
			for _, th := range threads {
				forget(th)
			}
		case op < 7:
			from, to := threads[rng.IntN(len(threads))], threads[rng.IntN(len(threads))]
			if from == to {
				continue
			}
			what, err = "CopyThread "+from+" "+to, s.CopyThread(ctx, from, to, CopyOptions{Replace: true})
			if errors.Is(err, ErrNotFound) {
				err = nil
			}
			forget(to)
		case op < 8:
			th := threads[rng.IntN(len(threads))]
			what, err = "DeleteThread "+th, s.DeleteThread(ctx, th)
			forget(th)
		default:
			what = "puts"
			for range 1 + rng.IntN(15) {
				if err = put(rng); err != nil {
					break
				}
			}
		}
		if err != nil {
			t.Fatalf("seed %d, round %d: %s: %v", seed, round, what, err)
		}
		check(what)
	}
}
