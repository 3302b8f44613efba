package ckpt_test

// Issue 14, held-out spec: "One byte flipped at 200 random positions inside
// stored values of a closed store: every read of an affected value returns
// ErrCorrupt, never a wrong value; Verify lists it", here with several
// namespaces, list channels kept as delta segments, metadata, pending
// writes, checkpoint records, forks made with Save, and a compacted file,
// through GetTuple, a Reader, List, Load, Latest, History, HistoryFrom,
// Branches, Export and Verify.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// spec14Store builds the store the flip tests damage, closes it and
// returns its path and model.
func spec14Store(t *testing.T, dir string, opts ckpt.Options) (string, *spec14Model) {
	t.Helper()
	path := filepath.Join(dir, "flip.db")
	opts.Durability = ckpt.NoSync
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := newSpec14Model(77)
	for i := range 5 {
		for _, ns := range []string{"", "sub", "sub:inner|deep"} {
			m.fillPut(t, s, fmt.Sprintf("put-%d", i), ns, 11)
		}
	}
	for i := range 5 {
		m.fillSave(t, s, fmt.Sprintf("save-%d", i), 9)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, m
}

// TestSpec14FlippedBytesNeverReadAsAValue flips one byte inside 250 stored
// items in all (25 a round, 10 rounds: two on a compacted copy, two on a
// copy after GC),
// every copy of each in the file (bbolt keeps stale copies in free pages),
// and reads the whole store back through every read path: each read of a
// checkpoint that holds a damaged item is ErrCorrupt naming its thread and
// checkpoint (and, for a value, its channel and version), never a wrong
// value; the others read back exactly; Verify lists every damaged item.
func TestSpec14FlippedBytesNeverReadAsAValue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, m := spec14Store(t, dir, ckpt.Options{})
	compacted := filepath.Join(dir, "compacted.db")
	copyFile(t, path, compacted)
	s, err := ckpt.Open(compacted, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A copy after GC (the newest 4 checkpoints of each thread and
	// namespace kept): its model holds the checkpoints still stored, its
	// markers are those they read.
	collected := filepath.Join(dir, "collected.db")
	copyFile(t, path, collected)
	s, err = ckpt.Open(collected, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), ckpt.Policy{KeepLast: 4}); err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for tp, err := range s.List(context.Background(), ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		kept[tp.Config.ThreadID+"\x00"+tp.Config.CheckpointNS+"\x00"+tp.Config.CheckpointID] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	gcModel := &spec14Model{markers: m.markers}
	var gcLive []string
	for _, c := range m.cps {
		if kept[c.key()] {
			gcModel.cps = append(gcModel.cps, c)
			gcLive = append(gcLive, c.deps...)
		}
	}
	slices.Sort(gcLive)
	gcLive = slices.Compact(gcLive)
	if len(gcModel.cps) == len(m.cps) || len(gcModel.cps) == 0 {
		t.Fatalf("GC kept %d of %d checkpoints", len(gcModel.cps), len(m.cps))
	}
	all := make([]string, 0, len(m.markers))
	for text := range m.markers {
		all = append(all, text)
	}
	slices.Sort(all)
	rng := rand.New(rand.NewPCG(14, 200))
	flips := 0
	kinds := map[spec14Kind]int{}
	for round := range 10 {
		src, model, pool, what := path, m, all, "plain"
		switch {
		case round >= 8:
			src, model, pool, what = collected, gcModel, gcLive, "after GC"
		case round >= 6:
			src, what = compacted, "compacted"
		}
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		chosen := slices.Clone(pool[:25])
		t.Run(fmt.Sprintf("round=%d,%s", round, what), func(t *testing.T) {
			damaged := filepath.Join(t.TempDir(), "damaged.db")
			copyFile(t, src, damaged)
			spec14Flip(t, rng, damaged, chosen)
			flips += len(chosen)
			hit := spec14CheckReads(t, model, damaged, ckpt.Options{ReadOnly: true}, chosen)
			if hit == 0 {
				t.Fatal("no checkpoint read a damaged item: the round tests nothing")
			}
		})
		for _, mk := range chosen {
			kinds[m.markers[mk].kind]++
		}
	}
	if len(kinds) != 5 {
		t.Fatalf("damaged kinds %v: want all five (value, list item, metadata, pending write, record)", kinds)
	}
	if flips != 250 {
		t.Fatalf("%d flips, want 250", flips)
	}
}

// spec14Flip flips one random byte (a random non-zero mask) inside each
// marker, in every copy of it in the file.
func spec14Flip(t *testing.T, rng *rand.Rand, path string, markers []string) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, mk := range markers {
		at, mask := rng.IntN(len(mk)), byte(1+rng.IntN(255))
		n := 0
		for off := 0; ; {
			j := bytes.Index(file[off:], []byte(mk))
			if j < 0 {
				break
			}
			file[off+j+at] ^= mask
			off += j + len(mk)
			n++
		}
		if n == 0 {
			t.Fatalf("marker %s not found in the file", mk)
		}
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing beside the file (a log) may hold a copy the reads could use.
	side, _ := filepath.Glob(path + "?*")
	for _, p := range side {
		b, _ := os.ReadFile(p)
		for _, mk := range markers {
			if bytes.Contains(b, []byte(mk)) {
				t.Fatalf("%s holds marker %s", p, mk)
			}
		}
	}
}

// spec14Affected returns the checkpoints that read a damaged item, and
// those that may fail on one without reading it: a list item is stored in
// segments of its channel's lineage, and a folded segment holds the items
// of several versions, so a damaged item may also make an earlier version
// of the list in that thread and namespace unreadable (ErrCorrupt, never a
// wrong value).
func spec14Affected(m *spec14Model, damaged []string) (hit map[string][]*spec14Marker, maybe map[string]bool) {
	bad := map[string]bool{}
	lineage := map[string]bool{} // thread, ns and channel of a damaged item
	for _, mk := range damaged {
		bad[mk] = true
		if mm := m.markers[mk]; mm.kind == spec14Item {
			lineage[mm.thread+"\x00"+mm.ns+"\x00"+mm.channel] = true
		}
	}
	hit, maybe = map[string][]*spec14Marker{}, map[string]bool{}
	for _, c := range m.cps {
		for _, d := range c.deps {
			if bad[d] {
				hit[c.key()] = append(hit[c.key()], m.markers[d])
			}
		}
		for ch := range c.versions {
			if lineage[c.thread+"\x00"+c.ns+"\x00"+ch] {
				maybe[c.key()] = true
			}
		}
	}
	return hit, maybe
}

// spec14WantCorrupt checks err is the ErrCorrupt of a read of c, which
// reads the damaged items hit: it names the thread and checkpoint, and
// when every damaged item of c is a whole value, one of their channels and
// versions (unless maybeOther: it may also read another damaged list
// segment, and name that first).
func spec14WantCorrupt(t *testing.T, path string, c *spec14Checkpoint, hit []*spec14Marker, err error, maybeOther bool) {
	t.Helper()
	if !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("%s: checkpoint %s/%q/%s reads damaged %v: err = %v, want ErrCorrupt", path, c.thread, c.ns, c.id, spec14Kinds(hit), err)
	}
	msg := err.Error()
	for _, name := range []string{c.thread, c.id} {
		if !strings.Contains(msg, name) {
			t.Errorf("%s: ErrCorrupt of checkpoint %s/%q/%s does not name %q: %v", path, c.thread, c.ns, c.id, name, err)
		}
	}
	allValues := len(hit) > 0 && !maybeOther // else another damaged record may be named first
	named := false
	for _, h := range hit {
		if h.kind != spec14Value {
			allValues = false
			continue
		}
		if strings.Contains(msg, fmt.Sprintf("channel %q", h.channel)) && strings.Contains(msg, fmt.Sprintf("version %q", h.version)) {
			named = true
		}
	}
	if allValues && !named {
		t.Errorf("%s: ErrCorrupt of checkpoint %s/%q/%s names none of the damaged values' channel and version %v: %v", path, c.thread, c.ns, c.id, spec14Kinds(hit), err)
	}
}

func spec14Kinds(hit []*spec14Marker) []string {
	var out []string
	for _, h := range hit {
		out = append(out, fmt.Sprintf("%v(%s %s)", h.kind, h.channel, h.version))
	}
	return out
}

// spec14CheckReads opens the damaged file and reads everything in it. It
// returns how many checkpoints read a damaged item.
func spec14CheckReads(t *testing.T, m *spec14Model, path string, opts ckpt.Options, damaged []string) int {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	affected, maybe := spec14Affected(m, damaged)
	byKey := map[string]*spec14Checkpoint{}
	threads := map[string][]*spec14Checkpoint{}
	for _, c := range m.cps {
		byKey[c.key()] = c
		threads[c.thread] = append(threads[c.thread], c)
	}
	// GetTuple, a Reader, and Load in the root namespace, one checkpoint
	// at a time.
	rd := s.NewReader()
	for _, c := range m.cps {
		cfg := ckpt.Config{ThreadID: c.thread, CheckpointNS: c.ns, CheckpointID: c.id}
		tp, err := s.GetTuple(ctx, cfg)
		rtp, rerr := rd.GetTuple(ctx, cfg)
		var sn *ckpt.Snapshot
		var lerr error
		if c.ns == "" {
			sn, lerr = s.Load(ctx, c.thread, c.id)
		}
		if hit := affected[c.key()]; hit != nil {
			spec14WantCorrupt(t, path, c, hit, err, maybe[c.key()])
			spec14WantCorrupt(t, path, c, hit, rerr, maybe[c.key()])
			if c.ns == "" {
				spec14WantCorrupt(t, path, c, hit, lerr, maybe[c.key()])
			}
			continue
		}
		if maybe[c.key()] && (err != nil || rerr != nil || lerr != nil) {
			for _, e := range []error{err, rerr, lerr} {
				if e != nil {
					spec14WantCorrupt(t, path, c, nil, e, true)
				}
			}
			continue
		}
		if err != nil || rerr != nil || lerr != nil {
			t.Fatalf("checkpoint %s/%q/%s holds no damaged item: GetTuple %v, Reader %v, Load %v", c.thread, c.ns, c.id, err, rerr, lerr)
		}
		if err := c.check(tp); err != nil {
			t.Fatalf("GetTuple %s/%q/%s: %v", c.thread, c.ns, c.id, err)
		}
		if err := c.check(rtp); err != nil {
			t.Fatalf("Reader %s/%q/%s: %v", c.thread, c.ns, c.id, err)
		}
		if sn != nil {
			if err := c.checkSnapshot(sn); err != nil {
				t.Fatalf("Load %s/%s: %v", c.thread, c.id, err)
			}
		}
	}
	// List, per thread and namespace and over the whole store: every tuple
	// yielded is exact and unaffected; an error is ErrCorrupt, and comes
	// when (and only when) the listing passes a damaged checkpoint.
	list := func(opts ckpt.ListOptions, want []*spec14Checkpoint) {
		t.Helper()
		anyBad, anyMaybe := false, false
		for _, c := range want {
			anyBad = anyBad || affected[c.key()] != nil
			anyMaybe = anyMaybe || maybe[c.key()]
		}
		var listErr error
		for tp, err := range s.List(ctx, opts) {
			if err != nil {
				listErr = err
				continue
			}
			c := byKey[tp.Config.ThreadID+"\x00"+tp.Config.CheckpointNS+"\x00"+tp.Config.CheckpointID]
			if c == nil {
				t.Fatalf("List %+v yields unknown checkpoint %+v", opts, tp.Config)
			}
			if affected[c.key()] != nil {
				t.Fatalf("List %+v yields damaged checkpoint %s/%q/%s without error", opts, c.thread, c.ns, c.id)
			}
			if err := c.check(tp); err != nil {
				t.Fatalf("List %+v: %s/%q/%s: %v", opts, c.thread, c.ns, c.id, err)
			}
		}
		switch {
		case anyBad && !errors.Is(listErr, ckpt.ErrCorrupt):
			t.Fatalf("List %+v passes damaged checkpoints: err = %v, want ErrCorrupt", opts, listErr)
		case anyMaybe && !anyBad && listErr != nil && !errors.Is(listErr, ckpt.ErrCorrupt):
			t.Fatalf("List %+v: %v", opts, listErr)
		case !anyBad && !anyMaybe && listErr != nil:
			t.Fatalf("List %+v holds no damaged checkpoint: %v", opts, listErr)
		}
	}
	list(ckpt.ListOptions{}, m.cps)
	for thread, cps := range threads {
		list(ckpt.ListOptions{ThreadID: thread}, cps)
		for _, ns := range []string{"", "sub", "sub:inner|deep"} {
			var in []*spec14Checkpoint
			for _, c := range cps {
				if c.ns == ns {
					in = append(in, c)
				}
			}
			if len(in) > 0 {
				list(ckpt.ListOptions{ThreadID: thread, Namespace: ckpt.NS(ns)}, in)
			}
		}
	}
	for thread, cps := range threads {
		var root []*spec14Checkpoint
		for _, c := range cps {
			if c.ns == "" {
				root = append(root, c)
			}
		}
		spec14CheckSimple(t, s, thread, root, affected, maybe)
		// Export: refused (ErrCorrupt) for a thread holding a damaged
		// item, whole for the others.
		threadBad := false
		for _, mk := range damaged {
			threadBad = threadBad || m.markers[mk].thread == thread
		}
		_, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{Threads: []string{thread}})
		if threadBad && !errors.Is(err, ckpt.ErrCorrupt) || !threadBad && err != nil {
			t.Fatalf("Export of thread %s (damaged: %v) = %v", thread, threadBad, err)
		}
	}
	// Verify lists every damaged item, in its thread, and nothing in the
	// other threads.
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	damagedThreads := map[string]bool{}
	for _, mk := range damaged {
		mm := m.markers[mk]
		damagedThreads[mm.thread] = true
		owner := spec14Owner(m, mm)
		found := false
		for _, p := range rep.Problems {
			if p.Thread != mm.thread || p.Namespace != mm.ns {
				continue
			}
			switch mm.kind {
			case spec14Value, spec14Item:
				found = found || strings.Contains(p.Detail, fmt.Sprintf("channel %q", mm.channel))
			default:
				found = found || p.CheckpointID == owner.id
			}
		}
		if !found {
			t.Errorf("Verify does not list damaged %v %s (thread %s ns %q channel %q version %q owner %s): %v", mm.kind, mk, mm.thread, mm.ns, mm.channel, mm.version, owner.id, rep.Problems)
		}
	}
	for _, p := range rep.Problems {
		if !damagedThreads[p.Thread] {
			t.Errorf("Verify lists a problem in an undamaged place: %v", p)
		}
	}
	return len(affected)
}

// spec14Owner returns the checkpoint a metadata, pending-write or record
// marker belongs to (the first that reads a value or list item).
func spec14Owner(m *spec14Model, mm *spec14Marker) *spec14Checkpoint {
	for _, c := range m.cps {
		if slices.Contains(c.deps, mm.text) {
			return c
		}
	}
	return &spec14Checkpoint{}
}

// spec14CheckSimple reads a thread's root namespace with the simple API:
// Latest, History from the head, HistoryFrom each checkpoint, Branches.
func spec14CheckSimple(t *testing.T, s *ckpt.Store, thread string, root []*spec14Checkpoint, affected map[string][]*spec14Marker, maybe map[string]bool) {
	t.Helper()
	ctx := context.Background()
	byID := map[string]*spec14Checkpoint{}
	isParent := map[string]bool{}
	var newest *spec14Checkpoint
	for _, c := range root {
		byID[c.id] = c
		isParent[c.parent] = true
		if newest == nil || c.id > newest.id {
			newest = c
		}
	}
	sn, err := s.Latest(ctx, thread)
	if hit := affected[newest.key()]; hit != nil {
		spec14WantCorrupt(t, "Latest", newest, hit, err, maybe[newest.key()])
	} else if err != nil && maybe[newest.key()] {
		spec14WantCorrupt(t, "Latest", newest, nil, err, true)
	} else if err != nil {
		t.Fatalf("Latest %s: %v", thread, err)
	} else if err := newest.checkSnapshot(sn); err != nil {
		t.Fatalf("Latest %s: %v", thread, err)
	}
	walk := func(from *spec14Checkpoint, seq func(yield func(*ckpt.Snapshot, error) bool)) {
		t.Helper()
		var chain []*spec14Checkpoint
		for c := from; c != nil; c = byID[c.parent] {
			chain = append(chain, c)
		}
		i := 0
		var werr error
		for sn, err := range seq {
			if err != nil {
				werr = err
				break
			}
			if i >= len(chain) {
				t.Fatalf("History of %s from %s yields more than its %d checkpoints", thread, from.id, len(chain))
			}
			c := chain[i]
			if affected[c.key()] != nil {
				t.Fatalf("History of %s from %s yields damaged checkpoint %s without error", thread, from.id, c.id)
			}
			if err := c.checkSnapshot(sn); err != nil {
				t.Fatalf("History of %s from %s, item %d: %v", thread, from.id, i, err)
			}
			i++
		}
		if i < len(chain) {
			if hit := affected[chain[i].key()]; hit != nil {
				spec14WantCorrupt(t, "History", chain[i], hit, werr, maybe[chain[i].key()])
				return
			}
			if maybe[chain[i].key()] {
				spec14WantCorrupt(t, "History", chain[i], nil, werr, true)
				return
			}
			t.Fatalf("History of %s from %s stops at %d of %d (at undamaged %s): %v", thread, from.id, i, len(chain), chain[i].id, werr)
		}
		if werr != nil {
			t.Fatalf("History of %s from %s: all %d read, then %v", thread, from.id, i, werr)
		}
	}
	walk(newest, s.History(ctx, thread, ckpt.ListOptions{}))
	for _, c := range root {
		walk(c, s.HistoryFrom(ctx, thread, c.id, ckpt.ListOptions{}))
	}
	tips, err := s.Branches(ctx, thread)
	anyBad := false
	var want []string
	for _, c := range root {
		anyBad = anyBad || affected[c.key()] != nil || maybe[c.key()]
		if !isParent[c.id] {
			want = append(want, c.id)
		}
	}
	if err != nil {
		if !anyBad || !errors.Is(err, ckpt.ErrCorrupt) {
			t.Fatalf("Branches of %s (damaged: %v): %v", thread, anyBad, err)
		}
		return
	}
	var got []string
	for _, sn := range tips {
		c := byID[sn.CheckpointID]
		if c == nil || affected[c.key()] != nil {
			t.Fatalf("Branches of %s yields %s: unknown or damaged", thread, sn.CheckpointID)
		}
		if err := c.checkSnapshot(sn); err != nil {
			t.Fatalf("Branches of %s: %v", thread, err)
		}
		got = append(got, sn.CheckpointID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Branches of %s = %v, want %v", thread, got, want)
	}
}

// copyFile copies the file from to to (created 0o600, or truncated), file
// to file (copy_file_range on Linux), with no buffer in the process: under
// -race a file read into memory and written out again costs the
// detector's shadow of every byte twice (a 2 MiB file took 40 times the
// CPU of a plain build, most of it in the kernel mapping shadow pages),
// and the damage tests copy a store for every case.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
