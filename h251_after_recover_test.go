package ckpt

// H251: the same handle after a panic it recovered. A damaged page makes
// bbolt panic; the store recovers it, and the calls that go on past one
// damaged thread (Threads, RecentThreads, Stats and Verify on a
// read-only handle, Export's SkipDamaged) recover it under a guard of
// their own and read on with the same read, whose pooled transaction
// then serves the next reads of the handle. Every read after must be
// exact (a sound thread's checkpoints as written) or a clear error
// (ErrCorrupt, for the damaged thread only), from many goroutines, and a
// write after must read back.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// h251FlipPageType sets to none the page type of the leaf pages of the
// bucket owner (bwJoin's form) in the file at path, by page id, whose
// places in that order keep says (nil: every one): a read that seeks into
// one panics (bbolt's page check), the other pages read as before.
func h251FlipPageType(t *testing.T, path, owner string, keep func(i, n int) bool) {
	t.Helper()
	_, f, fh := bwOpenLive(t, path)
	defer fh.Close()
	var leaves []int
	for id, p := range f.pages {
		if p.owner == owner && !p.branch {
			leaves = append(leaves, id)
		}
	}
	slices.Sort(leaves)
	n := 0
	for i, id := range leaves {
		if keep != nil && !keep(i, len(leaves)) {
			continue
		}
		if _, err := fh.WriteAt([]byte{0, 0}, int64(id*f.ps+8)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no leaf page of %s flipped (%d)", owner, len(leaves))
	}
}

// h251Recovering runs the calls that recover a panic of a damaged
// thread's page and go on, and returns what went wrong: a call that
// fails on a read-only handle (it goes on past the thread there).
func h251Recovering(ctx context.Context, s *Store, readOnly bool, damaged string) error {
	var errs []error
	met := false // the damaged thread's read recovered a panic of bbolt
	for info, err := range s.Threads(ctx) {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			errs = append(errs, fmt.Errorf("Threads: %w", err))
		}
		met = met || info.ThreadID == damaged && err != nil && strings.Contains(err.Error(), "bbolt failed on a damaged page")
	}
	if !met {
		errs = append(errs, fmt.Errorf("Threads: thread %s's read recovered no panic of bbolt", damaged))
	}
	if _, err := s.RecentThreads(ctx, ThreadQuery{}); err != nil && !errors.Is(err, ErrCorrupt) {
		errs = append(errs, fmt.Errorf("RecentThreads: %w", err))
	}
	if _, err := s.Stats(ctx); err != nil && (readOnly || !errors.Is(err, ErrCorrupt)) {
		errs = append(errs, fmt.Errorf("Stats: %w", err))
	}
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil {
		errs = append(errs, fmt.Errorf("Verify: %w", err))
	} else if rep.OK() {
		errs = append(errs, errors.New("Verify: no problem found"))
	}
	if _, err := s.Export(ctx, io.Discard, ExportOptions{SkipDamaged: true}); err != nil && (readOnly || !errors.Is(err, ErrCorrupt)) {
		errs = append(errs, fmt.Errorf("Export: %w", err))
	}
	return errors.Join(errs...)
}

// h251Reads reads every checkpoint of the model, by id and latest, and
// lists every thread: a sound thread's read must be exact, the damaged
// thread's exact or ErrCorrupt.
func h251Reads(ctx context.Context, s *Store, m h186Model, damaged string, rng *rand.Rand) error {
	keys := slices.Collect(func(yield func([2]string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	rd := s.NewReader()
	for _, k := range keys {
		th, ns, cps := k[0], k[1], m[k]
		ok := func(what string, err error) error {
			if err == nil || th == damaged && errors.Is(err, ErrCorrupt) {
				return nil
			}
			return fmt.Errorf("thread %s ns %q: %s: %w", th, ns, what, err)
		}
		for _, j := range rng.Perm(len(cps)) {
			if err := ok(fmt.Sprint("checkpoint ", j), h186Read(ctx, s, th, th, ns, cps[j])); err != nil {
				return err
			}
		}
		tup, err := rd.GetTuple(ctx, Config{ThreadID: th, CheckpointNS: ns})
		if err == nil && tup.Checkpoint.ID != idString(cps[len(cps)-1].id) {
			err = fmt.Errorf("latest is %s, want %s", tup.Checkpoint.ID, idString(cps[len(cps)-1].id))
		}
		if err := ok("latest (Reader)", err); err != nil {
			return err
		}
		n := 0
		var lerr error
		for _, err := range s.List(ctx, ListOptions{ThreadID: th, Namespace: NS(ns)}) {
			if err != nil {
				lerr = err
				break
			}
			n++
		}
		if lerr == nil && n != len(cps) {
			lerr = fmt.Errorf("List gives %d checkpoints, want %d", n, len(cps))
		}
		if err := ok("List", lerr); err != nil {
			return err
		}
	}
	return nil
}

// TestH251ReadsAfterRecoveredPanicsAreExact: t0's checkpoint records'
// leaf pages damaged (their page type; every one, or the last alone, so
// that reads of t0 meet sound pages too), under an open read-write store
// and before a read-only Open (of a file alone, and of a killed writer's
// file and log, whose reads are pooled); each round runs the recovering calls and,
// from several goroutines, every read of the model, and on the
// read-write handle a write read back.
func TestH251ReadsAfterRecoveredPanicsAreExact(t *testing.T) {
	t.Parallel()
	const damaged = "t0"
	for _, c := range []struct {
		readOnly bool
		live     bool // read-only over a killed writer's log: its reads are pooled, over the log's overlay
		last     bool // only the last leaf page damaged, not every one
	}{{false, false, false}, {false, false, true}, {true, false, false}, {true, false, true}, {true, true, false}, {true, true, true}} {
		readOnly := c.readOnly
		name := map[bool]string{false: "read-write", true: "read-only"}[readOnly] + map[bool]string{false: "", true: " live log"}[c.live] +
			map[bool]string{false: " every leaf", true: " last leaf"}[c.last]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			m := h186Build(t, path, rand.New(rand.NewPCG(2, 251)))
			owner := bwJoin([]string{"threads", damaged, string(bucketCheckpoints)})
			flip := func(i, n int) bool { return !c.last || i == n-1 }
			var s *Store
			var err error
			var logged []string // checkpoints of thread w only the log holds
			if c.live {
				w := openUnappliedWith(t, path, Options{})
				logged = saveN(t, w, "w", 0, 5)
				path = crashCopy(t, w)
			}
			if readOnly {
				h251FlipPageType(t, path, owner, flip)
				s, err = Open(path, Options{ReadOnly: true})
			} else {
				s, err = Open(path, Options{})
				if err == nil {
					// Bound and applied, then damaged under it.
					_, err = s.PutFull(ctx, Config{ThreadID: "w"}, Checkpoint{ChannelValues: map[string]any{"x": 0}}, Metadata{}, nil, nil)
				}
				if err == nil {
					err = s.ApplyLog(ctx)
				}
				h251FlipPageType(t, path, owner, flip)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = h229Bounded(t, name+" Close", s.Close) }()
			const rounds, readers = 3, 4
			for round := range rounds {
				err := h229Bounded(t, fmt.Sprint(name, " round ", round), func() error {
					if err := h251Recovering(ctx, s, readOnly, damaged); err != nil {
						return err
					}
					var wg sync.WaitGroup
					errs := make([]error, readers+1)
					for g := range readers {
						wg.Go(func() {
							rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
							if g == 0 {
								errs[readers] = h251Recovering(ctx, s, readOnly, damaged)
							}
							errs[g] = h251Reads(ctx, s, m, damaged, rng)
						})
					}
					wg.Wait()
					for _, id := range logged {
						tup, err := s.GetTuple(ctx, Config{ThreadID: "w", CheckpointID: id})
						if err == nil && tup.Checkpoint.ID != id {
							err = fmt.Errorf("reads checkpoint %s", tup.Checkpoint.ID)
						}
						if err != nil {
							errs = append(errs, fmt.Errorf("logged checkpoint %s of thread w: %w", id, err))
						}
					}
					if readOnly {
						return errors.Join(errs...)
					}
					x, v := fmt.Sprint("x", round), fmt.Sprintf("%06d", round+1)
					cfg, err := s.PutFull(ctx, Config{ThreadID: "w"}, Checkpoint{ChannelValues: map[string]any{"x": x}, ChannelVersions: map[string]string{"x": v}},
						Metadata{}, map[string]string{"x": v}, nil)
					if err != nil {
						return errors.Join(append(errs, fmt.Errorf("write: %w", err))...)
					}
					tup, err := s.GetTuple(ctx, Config{ThreadID: "w"})
					if err == nil && tup.Checkpoint.ID != cfg.CheckpointID {
						err = fmt.Errorf("latest is %s, want %s", tup.Checkpoint.ID, cfg.CheckpointID)
					}
					var got string
					if err == nil {
						err = tup.Decode("x", &got)
					}
					if err == nil && got != x {
						err = fmt.Errorf("x reads %q, want %q", got, x)
					}
					if err != nil {
						errs = append(errs, fmt.Errorf("the write read back: %w", err))
					}
					return errors.Join(errs...)
				})
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		})
	}
}
