package ckpt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH193NoFalseRefusalOnSoundStores: the integrity checks of the
// twenty-ninth session (GC's count of cp/ against ids/, the head a write
// builds on, Scan's lookahead and end check, RecentThreads' unindexed
// thread, List Before's entry above the first page, opPanic, the page
// walk before maintenance) must never refuse a sound store. Writers race
// on threads and namespaces whose names are prefixes of one another,
// with caller-given ids older than the head (ids out of time order), Save
// with IfHead and a named parent, Put with IfHead, while GC, Prune,
// DeleteForRuns, CopyThread (with and without Replace), DeleteThread
// (threads re-created after) and the readers that run the checks
// (RecentThreads with prefixes and offsets, List with Before, Latest)
// run beside them. With the log, without, and sealed; then the store
// is copied with its log pending (the applier held) and opened from the
// copy (the log replayed), read-write and read-only. No call may say
// ErrCorrupt or "panicked", and Verify finds no problem.
func TestH193NoFalseRefusalOnSoundStores(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	// CKPT_H193_SEED and CKPT_H193_ROUNDS: other seeds, more of them.
	base := huntSeed("CKPT_H193_SEED", 0)
	for r := range huntCount("CKPT_H193_ROUNDS", raceRounds(t, 30, 6)) {
		t.Run(fmt.Sprint(base+uint64(r)), func(t *testing.T) {
			t.Parallel()
			h193SoundRound(t, base+uint64(r), &calls)
		})
	}
	t.Cleanup(func() { t.Logf("%d calls checked", calls.Load()) })
}

func h193Refused(err error) bool {
	return err != nil && (errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "panicked"))
}

func h193SoundRound(t *testing.T, seed uint64, calls *atomic.Int64) {
	ctx := context.Background()
	var held atomic.Bool
	hold := make(chan struct{})
	var holdOnce sync.Once
	release := func() { holdOnce.Do(func() { close(hold) }) }
	t.Cleanup(release)
	tune := &tuning{planLimit: 3, maxBatchJobs: 2, gcTxKeys: 12, namePage: 2,
		hooks: engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if held.Load() {
				<-hold
			}
			return tx.Commit()
		}}}
	opts := Options{Durability: NoSync, tuning: tune}
	mode := "wal"
	switch seed % 3 {
	case 1:
		opts.NoWAL, mode = true, "nowal"
	case 2:
		opts.Encryption, mode = &Encryption{Keys: []Key{testKey(1, 7)}}, "sealed"
	}
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	threads := []string{"a", "ab", "abc", "b", "b0"}
	nss := []string{"", "a", "ab", "b", "\xff"}
	var mu sync.Mutex
	heads := map[[2]string]string{}
	var known []string // ids written, for List's Before
	fail := func(what string, err error) {
		t.Helper()
		calls.Add(1)
		if h193Refused(err) {
			t.Errorf("seed %d (%s): %s: %v", seed, mode, what, err)
		}
	}
	base := time.Now()
	worker := func(g int, steps, ops int) {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		for step := range steps {
			th := threads[rng.IntN(len(threads))]
			ns := nss[rng.IntN(len(nss))]
			mu.Lock()
			parent := heads[[2]string{th, ns}]
			var before string
			if len(known) > 0 {
				before = known[rng.IntN(len(known))]
			}
			mu.Unlock()
			switch op := rng.IntN(ops); {
			case op < 6: // Put, sometimes with an id older than the head, sometimes IfHead
				vers := map[string]string{}
				vals := map[string]any{}
				for _, ch := range []string{"x", "y"}[:1+rng.IntN(2)] {
					v := fmt.Sprintf("v%02d", rng.IntN(6))
					vers[ch], vals[ch] = v, "value "+ch+" "+v
				}
				cp := Checkpoint{ChannelValues: vals, ChannelVersions: vers}
				if rng.IntN(4) == 0 {
					cp.ID = ulid.MustNew(ulid.Timestamp(base.Add(-time.Duration(rng.IntN(1000))*time.Millisecond)), rand.NewChaCha8([32]byte{byte(seed), byte(g), byte(step), byte(step >> 8)})).String()
				}
				if rng.IntN(6) == 0 {
					parent = ""
				}
				c := ctx
				if rng.IntN(3) == 0 {
					c = WithWriteOptions(ctx, WriteOptions{IfHead: true})
				}
				cfg, err := s.Put(c, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: parent}, cp,
					Metadata{"run_id": fmt.Sprint("run", rng.IntN(3)), "g": g}, vers)
				fail(fmt.Sprintf("Put %q/%q parent %s id %q", th, ns, parent, cp.ID), err)
				if err == nil {
					mu.Lock()
					heads[[2]string{th, ns}] = cfg.CheckpointID
					known = append(known, cfg.CheckpointID)
					mu.Unlock()
					if rng.IntN(3) == 0 {
						fail("PutWrites", s.PutWrites(ctx, cfg, []Write{{Channel: "w", Value: step}}, "task", ""))
					}
				}
			case op < 9: // Save, with IfHead and a named parent at times
				wo := WriteOptions{}
				if rng.IntN(2) == 0 {
					wo.IfHead = true
					mu.Lock()
					wo.Parent = heads[[2]string{th, ""}]
					mu.Unlock()
				}
				id, err := s.Save(WithWriteOptions(ctx, wo), th, map[string]any{"n": rng.IntN(4)}, Metadata{"run_id": "save"})
				fail(fmt.Sprintf("Save %q %+v", th, wo), err)
				if err == nil {
					mu.Lock()
					heads[[2]string{th, ""}] = id
					known = append(known, id)
					mu.Unlock()
				}
			case op < 11:
				p := Policy{KeepLast: 1 + rng.IntN(3)}
				if rng.IntN(3) == 0 {
					p = Policy{MaxAge: time.Duration(rng.IntN(3)) * time.Millisecond}
				}
				if rng.IntN(4) == 0 {
					p.ThreadTTL = time.Millisecond
				}
				_, err := s.GC(ctx, p)
				fail(fmt.Sprintf("GC %+v", p), err)
			case op < 12:
				fail("Prune", s.Prune(ctx, []string{th}, PruneKeepLatest))
			case op < 13:
				fail("DeleteForRuns", s.DeleteForRuns(ctx, []string{fmt.Sprint("run", rng.IntN(3))}))
			case op < 14:
				to := threads[rng.IntN(len(threads))]
				if to != th {
					fail("CopyThread "+th+" "+to, s.CopyThread(ctx, th, to, CopyOptions{Replace: rng.IntN(2) == 0}))
				}
			case op < 15:
				fail("DeleteThread "+th, s.DeleteThread(ctx, th))
			case op < 17:
				q := ThreadQuery{Prefix: threads[rng.IntN(len(threads))][:rng.IntN(2)], Offset: rng.IntN(3), Limit: rng.IntN(4)}
				page, err := s.RecentThreads(ctx, q)
				fail(fmt.Sprintf("RecentThreads %+v", q), err)
				for i, e := range page.Errs {
					fail(fmt.Sprintf("RecentThreads %+v: thread %q", q, page.Threads[i].ThreadID), e)
				}
			case op < 19:
				lo := ListOptions{Before: before, Limit: 1 + rng.IntN(4)}
				if rng.IntN(3) == 0 {
					lo.ThreadID = th
				}
				if rng.IntN(3) == 0 {
					lo.Namespace = NS(ns)
				}
				for _, err := range s.List(ctx, lo) {
					fail(fmt.Sprintf("List %+v", lo), err)
				}
			default:
				_, err := s.Latest(ctx, th)
				if errors.Is(err, ErrNotFound) {
					err = nil
				}
				fail("Latest "+th, err)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() { worker(g, 400, 20) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The log pending: the applier held while more writes are logged.
	if !opts.NoWAL {
		held.Store(true)
		worker(10, 40, 9) // writes only: maintenance waits for the applier
	}
	var copied string
	if !opts.NoWAL {
		copied = copyStoreOpen(t, path)
	}
	held.Store(false)
	release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopen := []string{path}
	if copied != "" {
		reopen = append(reopen, copied)
	}
	for _, p := range reopen {
		for _, ro := range []bool{false, true} {
			o := opts
			o.tuning, o.ReadOnly = nil, ro
			s2, err := Open(p, o)
			if err != nil {
				t.Fatalf("seed %d (%s): reopen %s (read-only %v): %v", seed, mode, p, ro, err)
			}
			rep, err := s2.Verify(ctx, VerifyOptions{})
			if err != nil || len(rep.Problems) > 0 {
				t.Errorf("seed %d (%s): Verify of %s: %v %+v", seed, mode, p, err, rep)
			}
			for _, th := range threads {
				page, err := s2.RecentThreads(ctx, ThreadQuery{Prefix: th})
				fail("RecentThreads after reopen", err)
				for _, e := range page.Errs {
					fail("RecentThreads after reopen: a thread", e)
				}
			}
			for _, b := range known {
				for _, err := range s2.List(ctx, ListOptions{Before: b, Limit: 2}) {
					fail("List after reopen", err)
				}
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// copyStoreOpen copies the files of the open store at path (its file and
// what lies beside it) while the applier is held: the file as of its last
// commit, the log with the groups after it.
func copyStoreOpen(t *testing.T, path string) string {
	t.Helper()
	return copyStore(t, path)
}
