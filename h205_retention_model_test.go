package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h205: the retention promises against a model, through the public API
// only. Seeded rounds write forked histories (Put from the head or from an
// older checkpoint of its thread and namespace) on three threads and two
// namespaces, with a list channel that grows by appends (stored as
// deltas: a fork's list shares the prefix of its branch's), a counter, a
// string changed now and then, and pending writes of tasks (regular ones
// first-wins, __error__ replacing), in Sync, NoSync and Async (flushed).
// Then GC KeepLast K, Prune keep-latest of one thread, DeleteForRuns of one
// run: after each, and again after Close and a reopen, exactly the
// checkpoints the policy keeps are there (the newest K by id of each
// thread and namespace; the newest of each namespace; those of other
// runs), each reads exactly the state, metadata, parent and pending
// writes written with it (whatever of its ancestors went), nothing of
// another thread or namespace, and Verify is clean.
// CKPT_H205_CASES sets the rounds (default 12), CKPT_H205_SEED the first.
func TestH205RetentionKeepsExactlyThePolicy(t *testing.T) {
	t.Parallel()
	rounds := 12
	if n, err := strconv.Atoi(os.Getenv("CKPT_H205_CASES")); err == nil && n > 0 {
		rounds = n
	}
	// CKPT_H205_SEED: the first seed (default 0).
	base, _ := strconv.ParseUint(os.Getenv("CKPT_H205_SEED"), 10, 64)
	for seed := base; seed < base+uint64(rounds); seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			h205RetentionRound(t, seed)
		})
	}
}

type h205CP struct {
	thread, ns, id, parent string
	run                    string
	msgs                   []string
	n                      int
	note                   string
	versions               map[string]string
	writes                 map[string]string // task/idx -> channel=value
}

func (c *h205CP) key() [2]string { return [2]string{c.thread, c.ns} }

func h205RetentionRound(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 205))
	path := filepath.Join(t.TempDir(), "s.db")
	opts := ckpt.Options{NoWAL: seed%3 == 2, DeltaFold: 2 + int(seed%4)}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	threads := []string{"ta", "tb", "tc"}
	nss := []string{"", "sub"}
	var all []*h205CP
	heads := map[[2]string][]*h205CP{} // every checkpoint of (thread, ns), in write order
	durs := []ckpt.Durability{ckpt.Sync, ckpt.NoSync, ckpt.Async}
	steps := 60 + rng.IntN(60)
	for step := range steps {
		th, ns := threads[rng.IntN(len(threads))], nss[rng.IntN(len(nss))]
		k := [2]string{th, ns}
		wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: durs[rng.IntN(len(durs))]})
		hist := heads[k]
		if len(hist) > 0 && rng.IntN(3) == 0 {
			// Pending writes of a task on some checkpoint of (thread, ns).
			c := hist[rng.IntN(len(hist))]
			task := fmt.Sprintf("task%d", rng.IntN(3))
			ws := []ckpt.Write{{Channel: "out", Value: fmt.Sprintf("%s-%d", c.id, step)}}
			if rng.IntN(3) == 0 {
				ws = append(ws, ckpt.Write{Channel: ckpt.ChannelError, Value: fmt.Sprintf("err-%d", step)})
			}
			if err := s.PutWrites(wctx, ckpt.Config{ThreadID: th, CheckpointNS: ns, CheckpointID: c.id}, ws, task, "p"); err != nil {
				t.Fatal(err)
			}
			for i, w := range ws {
				idx := strconv.Itoa(i)
				if w.Channel == ckpt.ChannelError {
					idx = "err"
				}
				wk := task + "/" + idx
				if _, ok := c.writes[wk]; ok && w.Channel != ckpt.ChannelError {
					continue // first wins
				}
				c.writes[wk] = w.Channel + "=" + w.Value.(string)
			}
			continue
		}
		var parent *h205CP
		if len(hist) > 0 {
			parent = hist[len(hist)-1]
			if rng.IntN(4) == 0 {
				parent = hist[rng.IntN(len(hist))] // a fork
			}
		}
		c := &h205CP{thread: th, ns: ns, run: fmt.Sprintf("run%d", rng.IntN(3)), writes: map[string]string{}}
		changed := map[string]any{}
		if parent == nil {
			c.msgs = []string{fmt.Sprintf("%s/%s first", th, ns)}
			c.n = 0
			c.note = "start"
			c.versions = map[string]string{}
			changed["msgs"], changed["n"], changed["note"] = c.msgs, c.n, c.note
		} else {
			c.parent = parent.id
			c.versions = maps.Clone(parent.versions)
			c.msgs = slices.Clone(parent.msgs)
			c.n, c.note = parent.n, parent.note
			for range 1 + rng.IntN(3) {
				c.msgs = append(c.msgs, fmt.Sprintf("%s/%s step %d", th, ns, step))
			}
			changed["msgs"] = c.msgs
			if rng.IntN(2) == 0 {
				c.n++
				changed["n"] = c.n
			}
			if rng.IntN(5) == 0 {
				c.note = fmt.Sprintf("note %d", step)
				changed["note"] = c.note
			}
		}
		nv := map[string]string{}
		for ch := range changed {
			v := fmt.Sprintf("%08d", step) // unique along the store: never reused
			nv[ch], c.versions[ch] = v, v
		}
		cp := ckpt.Checkpoint{V: 4, ChannelValues: changed, ChannelVersions: maps.Clone(c.versions)}
		cfg, err := s.Put(wctx, ckpt.Config{ThreadID: th, CheckpointNS: ns, CheckpointID: c.parent}, cp, ckpt.Metadata{"run_id": c.run, "step": step}, nv)
		if err != nil {
			t.Fatal(err)
		}
		c.id = cfg.CheckpointID
		all = append(all, c)
		heads[k] = append(heads[k], c)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	kept := map[string]*h205CP{}
	for _, c := range all {
		kept[c.thread+"\x00"+c.ns+"\x00"+c.id] = c
	}
	check := func(what string) {
		t.Helper()
		h205CheckStore(t, what, s, kept)
	}
	check("before retention")

	// GC KeepLast K: the newest K by id of each (thread, ns).
	keepLast := 1 + rng.IntN(3)
	if _, err := s.GC(ctx, ckpt.Policy{KeepLast: keepLast}); err != nil {
		t.Fatal(err)
	}
	for _, hist := range heads {
		byID := slices.Clone(hist)
		slices.SortFunc(byID, func(a, b *h205CP) int { return strings.Compare(b.id, a.id) })
		for _, c := range byID[min(keepLast, len(byID)):] {
			delete(kept, c.thread+"\x00"+c.ns+"\x00"+c.id)
		}
	}
	check(fmt.Sprintf("after GC KeepLast %d", keepLast))

	// Prune keep-latest of one thread: the newest of each of its namespaces.
	pruned := threads[rng.IntN(len(threads))]
	if err := s.Prune(ctx, []string{pruned}, ckpt.PruneKeepLatest); err != nil {
		t.Fatal(err)
	}
	newest := map[[2]string]string{}
	for _, c := range kept {
		if c.id > newest[c.key()] {
			newest[c.key()] = c.id
		}
	}
	for k, c := range kept {
		if c.thread == pruned && c.id != newest[c.key()] {
			delete(kept, k)
		}
	}
	check("after Prune keep-latest of " + pruned)

	// DeleteForRuns of one run.
	run := fmt.Sprintf("run%d", rng.IntN(3))
	if err := s.DeleteForRuns(ctx, []string{run}); err != nil {
		t.Fatal(err)
	}
	for k, c := range kept {
		if c.run == run {
			delete(kept, k)
		}
	}
	check("after DeleteForRuns " + run)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = ckpt.Open(path, opts); err != nil {
		t.Fatal(err)
	}
	check("after Close and reopen")
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
}

// h205CheckStore checks s holds exactly kept (thread\0ns\0id -> model),
// each as written.
func h205CheckStore(t *testing.T, what string, s *ckpt.Store, kept map[string]*h205CP) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatalf("%s: List: %v", what, err)
		}
		k := tup.Config.ThreadID + "\x00" + tup.Config.CheckpointNS + "\x00" + tup.Config.CheckpointID
		c, ok := kept[k]
		if !ok {
			t.Errorf("%s: List yields %+v, which the policy removed (or never written)", what, tup.Config)
			continue
		}
		seen[k] = true
		if err := h205SameAs(tup, c); err != nil {
			t.Errorf("%s: List: %v", what, err)
		}
		got, err := s.GetTuple(ctx, tup.Config)
		if err != nil {
			t.Errorf("%s: GetTuple %+v: %v", what, tup.Config, err)
		} else if err := h205SameAs(got, c); err != nil {
			t.Errorf("%s: GetTuple: %v", what, err)
		}
	}
	for k, c := range kept {
		if !seen[k] {
			t.Errorf("%s: %s/%q/%s missing from List", what, c.thread, c.ns, c.id)
			if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: c.thread, CheckpointNS: c.ns, CheckpointID: c.id}); !errors.Is(err, ckpt.ErrNotFound) {
				t.Errorf("%s: ... and GetTuple says %v", what, err)
			}
		}
	}
}

func h205SameAs(tup *ckpt.Tuple, c *h205CP) error {
	where := fmt.Sprintf("%s/%q/%s", c.thread, c.ns, c.id)
	var msgs []string
	var n int
	var note string
	if err := tup.Decode("msgs", &msgs); err != nil {
		return fmt.Errorf("%s: msgs: %w", where, err)
	}
	if err := tup.Decode("n", &n); err != nil {
		return fmt.Errorf("%s: n: %w", where, err)
	}
	if err := tup.Decode("note", &note); err != nil {
		return fmt.Errorf("%s: note: %w", where, err)
	}
	if !slices.Equal(msgs, c.msgs) || n != c.n || note != c.note {
		return fmt.Errorf("%s: state %q %d %q, want %q %d %q", where, msgs, n, note, c.msgs, c.n, c.note)
	}
	if !maps.Equal(tup.Checkpoint.ChannelVersions, c.versions) {
		return fmt.Errorf("%s: versions %v, want %v", where, tup.Checkpoint.ChannelVersions, c.versions)
	}
	if r, _ := tup.Metadata["run_id"].(string); r != c.run {
		return fmt.Errorf("%s: run_id %v, want %s", where, tup.Metadata["run_id"], c.run)
	}
	parent := ""
	if tup.ParentConfig != nil {
		parent = tup.ParentConfig.CheckpointID
		if tup.ParentConfig.ThreadID != c.thread || tup.ParentConfig.CheckpointNS != c.ns {
			return fmt.Errorf("%s: parent config %+v of another thread or namespace", where, *tup.ParentConfig)
		}
	}
	if parent != c.parent {
		return fmt.Errorf("%s: parent %q, want %q", where, parent, c.parent)
	}
	got := map[string]string{}
	for _, w := range tup.PendingWrites {
		var v string
		if err := ckpt.Raw(w.Value).Decode(&v); err != nil {
			return fmt.Errorf("%s: pending write %+v: %w", where, w, err)
		}
		idx := strconv.Itoa(w.Idx)
		if w.Channel == ckpt.ChannelError {
			idx = "err"
		}
		got[w.TaskID+"/"+idx] = w.Channel + "=" + v
	}
	if !maps.Equal(got, c.writes) {
		return fmt.Errorf("%s: pending writes %v, want %v", where, got, c.writes)
	}
	return nil
}
