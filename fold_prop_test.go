package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// foldModel is what a property test saved: every live checkpoint's list
// channels, by id, and where it lives.
type foldModel struct {
	t       *rapid.T
	s       *Store
	path    string
	opts    Options
	cps     map[string]foldCP // by checkpoint id
	heads   map[[2]string]string
	nextVer int
	files   int // stores made by roundTrip
}

type foldCP struct {
	thread, ns string
	lists      map[string][]string // list channels
	versions   map[string]string
	writes     int // pending writes put on it
	step       int // its metadata's "step"
}

var (
	foldThreads  = []string{"t", "u"}
	foldNS       = []string{"", "sub"}
	foldChannels = []string{"m", "n"}
	foldKs       = []int{-1, 1, 2, 3, 8, 32}
)

func (m *foldModel) item() string {
	if rapid.IntRange(0, 20).Draw(m.t, "big") == 0 {
		return strings.Repeat("B", rapid.IntRange(1, 3).Draw(m.t, "kib")<<10)
	}
	return fmt.Sprintf("i%d", rapid.IntRange(0, 5).Draw(m.t, "item"))
}

// derive returns the next value of a list channel from prev.
func (m *foldModel) derive(prev []string) (next []string, changed bool) {
	switch op := rapid.IntRange(0, 9).Draw(m.t, "list op"); {
	case op <= 5: // append
		next = slices.Clone(prev)
		for range rapid.IntRange(1, 3).Draw(m.t, "appends") {
			next = append(next, m.item())
		}
	case op == 6 && len(prev) > 0: // truncate
		next = slices.Clone(prev[:rapid.IntRange(0, len(prev)-1).Draw(m.t, "cut")])
	case op == 7 && len(prev) > 0: // edit in the middle
		next = slices.Clone(prev)
		next[rapid.IntRange(0, len(prev)-1).Draw(m.t, "edit at")] = "edited"
	case op == 8: // kept: the same version
		return prev, false
	default:
		next = append(slices.Clone(prev), m.item())
	}
	return next, true
}

func (m *foldModel) put() {
	thread := rapid.SampledFrom(foldThreads).Draw(m.t, "thread")
	ns := rapid.SampledFrom(foldNS).Draw(m.t, "ns")
	parent := m.heads[[2]string{thread, ns}]
	if rapid.IntRange(0, 3).Draw(m.t, "fork") == 0 {
		var older []string
		for id, c := range m.cps {
			if c.thread == thread && c.ns == ns {
				older = append(older, id)
			}
		}
		if len(older) > 0 {
			parent = rapid.SampledFrom(slices.Sorted(slices.Values(older))).Draw(m.t, "parent")
		}
	}
	base, ok := m.cps[parent]
	if !ok {
		parent = ""
	}
	next := foldCP{thread: thread, ns: ns, lists: map[string][]string{}, versions: map[string]string{}, step: len(m.cps) % 3}
	values := map[string]any{}
	newVersions := map[string]string{}
	for _, ch := range foldChannels {
		prev, had := base.lists[ch]
		v, changed := m.derive(prev)
		if !had && !changed {
			continue
		}
		next.lists[ch] = v
		if changed {
			m.nextVer++
			next.versions[ch] = fmt.Sprintf("%08d", m.nextVer)
			newVersions[ch] = next.versions[ch]
		} else {
			next.versions[ch] = base.versions[ch]
		}
		values[ch] = v
	}
	cfg, err := m.s.Put(context.Background(), Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent},
		Checkpoint{ChannelValues: values, ChannelVersions: next.versions}, Metadata{"step": next.step}, newVersions)
	if err != nil {
		m.t.Fatalf("Put: %v", err)
	}
	if rapid.IntRange(0, 3).Draw(m.t, "writes") == 0 {
		if err := m.s.PutWrites(context.Background(), cfg, []Write{{Channel: "m", Value: []string{"w"}}}, "task", ""); err != nil {
			m.t.Fatalf("PutWrites: %v", err)
		}
		next.writes = 1
	}
	m.cps[cfg.CheckpointID] = next
	m.heads[[2]string{thread, ns}] = cfg.CheckpointID
	tp, err := m.s.GetTuple(context.Background(), cfg)
	if err != nil {
		m.t.Fatalf("GetTuple after Put: %v", err)
	}
	m.check("GetTuple after Put", tp)
}

// reopen closes the store and opens it again with a DeltaFold drawn anew.
func (m *foldModel) reopen() {
	if err := m.s.Close(); err != nil {
		m.t.Fatal(err)
	}
	m.opts.DeltaFold = rapid.SampledFrom(foldKs).Draw(m.t, "K")
	s, err := Open(m.path, m.opts)
	if err != nil {
		m.t.Fatal(err)
	}
	m.s = s
}

// gc runs retention, then drops from the model what the store no longer
// lists: what it keeps must read back whole.
func (m *foldModel) gc() {
	ctx := context.Background()
	keep := 1
	if rapid.Bool().Draw(m.t, "prune") {
		if err := m.s.Prune(ctx, foldThreads, PruneKeepLatest); err != nil {
			m.t.Fatalf("Prune: %v", err)
		}
	} else {
		keep = rapid.IntRange(1, 4).Draw(m.t, "keep")
		if _, err := m.s.GC(ctx, Policy{KeepLast: keep}); err != nil {
			m.t.Fatalf("GC: %v", err)
		}
	}
	// Both keep the newest keep checkpoints of each thread and namespace.
	var want []string
	for _, th := range foldThreads {
		for _, ns := range foldNS {
			l := m.listed(ListOptions{ThreadID: th, Namespace: NS(ns)})
			want = append(want, l[:min(keep, len(l))]...)
		}
	}
	slices.Sort(want)
	live := map[string]bool{}
	for tp, err := range m.s.List(ctx, ListOptions{}) {
		if err != nil {
			m.t.Fatalf("List: %v", err)
		}
		live[tp.Config.CheckpointID] = true
	}
	if got := slices.Sorted(maps.Keys(live)); !slices.Equal(got, want) {
		m.t.Fatalf("retention kept %v, want the newest %d of each thread and namespace: %v", got, keep, want)
	}
	for id := range m.cps {
		if !live[id] {
			delete(m.cps, id)
		}
	}
	for k, id := range m.heads {
		if !live[id] {
			delete(m.heads, k)
		}
	}
}

// legacy rewrites every folded segment of level 1 and up as a build before
// levels wrote its folds (level 0: never merged again).
func (m *foldModel) legacy() {
	if m.opts.Encryption != nil {
		return
	}
	err := m.s.write(context.Background(), func(w writer) error {
		for _, thread := range foldThreads {
			ts := seedOf(thread)
			type kv struct{ k, v []byte }
			var redo []kv
			if err := w.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) error {
				seg, err := decodeSegment(ts, k, v)
				if err != nil {
					return err
				}
				if seg.level() > 0 {
					redo = append(redo, kv{bytes.Clone(k), encodeSegment(nil, thread, ts, k, seg.count, foldedFlags(0), seg.items)})
				}
				return nil
			}); err != nil {
				return err
			}
			for _, r := range redo {
				if err := w.Put(threadPath(thread, bucketSegments), r.k, r.v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
}

// wantLists checks a tuple against the model.
func (m *foldModel) check(how string, tp *Tuple) {
	id := tp.Config.CheckpointID
	c, ok := m.cps[id]
	if !ok {
		m.t.Fatalf("%s: checkpoint %s not in the model", how, id)
	}
	if tp.Config.ThreadID != c.thread || tp.Config.CheckpointNS != c.ns {
		m.t.Fatalf("%s: checkpoint %s in %q/%q, saved in %q/%q", how, id, tp.Config.ThreadID, tp.Config.CheckpointNS, c.thread, c.ns)
	}
	got := map[string][]string{}
	for ch := range tp.Checkpoint.ChannelValues {
		var l []string
		if err := tp.Decode(ch, &l); err != nil {
			m.t.Fatalf("%s: checkpoint %s channel %s: %v", how, id, ch, err)
		}
		if l == nil {
			l = []string{}
		}
		got[ch] = l
	}
	want := map[string][]string{}
	for ch, l := range c.lists {
		if l == nil {
			l = []string{}
		}
		want[ch] = l
	}
	if !reflect.DeepEqual(got, want) {
		m.t.Fatalf("%s: checkpoint %s reads %s, saved %s", how, id, short(got), short(want))
	}
	if len(tp.PendingWrites) != c.writes {
		m.t.Fatalf("%s: checkpoint %s has %d pending writes, put %d", how, id, len(tp.PendingWrites), c.writes)
	}
}

func short(m map[string][]string) string {
	var b strings.Builder
	for _, ch := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s:[", ch)
		for _, it := range m[ch] {
			if len(it) > 8 {
				it = fmt.Sprintf("B*%d", len(it))
			}
			b.WriteString(it + " ")
		}
		b.WriteString("] ")
	}
	return b.String()
}

// checkAll reads every checkpoint by id, then through List pages of each
// thread and namespace (with Before, Limit and a filter drawn), and of the
// whole store, and compares both with the model and with each other.
func (m *foldModel) checkAll() {
	ctx := context.Background()
	byID := map[string]*Tuple{}
	for id, c := range m.cps {
		tp, err := m.s.GetTuple(ctx, Config{ThreadID: c.thread, CheckpointNS: c.ns, CheckpointID: id})
		if err != nil {
			m.t.Fatalf("GetTuple %s: %v", id, err)
		}
		m.check("GetTuple", tp)
		byID[id] = tp
	}
	lists := []ListOptions{{}}
	for _, th := range foldThreads {
		lists = append(lists, ListOptions{ThreadID: th})
		for _, ns := range foldNS {
			lists = append(lists, ListOptions{ThreadID: th, Namespace: NS(ns)})
		}
	}
	ids := slices.Sorted(maps.Keys(m.cps))
	for _, o := range lists {
		o.Limit = rapid.IntRange(0, 4).Draw(m.t, "limit")
		if len(ids) > 0 && rapid.Bool().Draw(m.t, "before") {
			o.Before = rapid.SampledFrom(ids).Draw(m.t, "before id")
		}
		if rapid.IntRange(0, 3).Draw(m.t, "filter") == 0 {
			o.Filter = map[string]any{"step": rapid.IntRange(0, 2).Draw(m.t, "step")}
		}
		var got []string
		for tp, err := range m.s.List(ctx, o) {
			if err != nil {
				m.t.Fatalf("List %+v: %v", o, err)
			}
			got = append(got, tp.Config.CheckpointID)
			m.check(fmt.Sprintf("List %+v", o), tp)
			byGet := byID[tp.Config.CheckpointID]
			for ch, v := range tp.Checkpoint.ChannelValues {
				if !bytes.Equal(v.(Raw), byGet.Checkpoint.ChannelValues[ch].(Raw)) {
					m.t.Fatalf("List %+v: checkpoint %s channel %s differs from GetTuple's", o, tp.Config.CheckpointID, ch)
				}
			}
		}
		if want := m.listed(o); !slices.Equal(got, want) {
			m.t.Fatalf("List %+v: %v, model %v", o, got, want)
		}
	}
}

// listed returns the ids List(o) yields by the model: newest first.
func (m *foldModel) listed(o ListOptions) []string {
	var out []string
	for id, c := range m.cps {
		if (o.ThreadID == "" || o.ThreadID == c.thread) && (o.Namespace == nil || *o.Namespace == c.ns) &&
			(o.Before == "" || id < o.Before) && (o.Filter == nil || o.Filter["step"] == c.step) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out
}

func (m *foldModel) count(o ListOptions) int {
	n := 0
	for _, c := range m.cps {
		if (o.ThreadID == "" || o.ThreadID == c.thread) && (o.Namespace == nil || *o.Namespace == c.ns) {
			n++
		}
	}
	return n
}

// TestFoldLevelsProperty: random appends, edits, truncations, forks from
// older checkpoints, pending writes, GC and Prune, reopening with another
// DeltaFold, and folds rewritten as a build before levels wrote them:
// every live checkpoint reads back its lists exactly as saved, by id and
// through List (whose pages reuse segments across tuples).
func TestFoldLevelsProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		opts := Options{NoWAL: rapid.Bool().Draw(rt, "nowal"), DeltaFold: rapid.SampledFrom(foldKs).Draw(rt, "K")}
		if rapid.IntRange(0, 3).Draw(rt, "encrypted") == 0 {
			opts.Encryption = &Encryption{Keys: []Key{testKey(1, 7)}}
		}
		path := filepath.Join(dir, "f.db")
		s, err := Open(path, opts)
		if err != nil {
			rt.Fatal(err)
		}
		m := &foldModel{t: rt, s: s, path: path, opts: opts, cps: map[string]foldCP{}, heads: map[[2]string]string{}}
		defer func() { m.s.Close() }()
		for range rapid.IntRange(1, 80).Draw(rt, "steps") {
			switch op := rapid.IntRange(0, 21).Draw(rt, "op"); {
			case op <= 14:
				m.put()
			case op == 15:
				m.gc()
			case op == 16:
				m.legacy()
			case op == 17:
				m.checkAll()
			case op == 18:
				m.copyThread()
			case op == 19:
				m.roundTrip()
			default:
				m.reopen()
			}
		}
		m.checkAll()
	})
}

// copyThread copies thread t to c: every checkpoint of the copy reads back
// as its source does, through List and GetTuple; then c is deleted (the
// model does not hold it).
func (m *foldModel) copyThread() {
	ctx := context.Background()
	if err := m.s.CopyThread(ctx, "t", "c", CopyOptions{Replace: true}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return // no checkpoint in t
		}
		m.t.Fatalf("CopyThread: %v", err)
	}
	seen := 0
	for tp, err := range m.s.List(ctx, ListOptions{ThreadID: "c"}) {
		if err != nil {
			m.t.Fatalf("List of the copy: %v", err)
		}
		seen++
		tp.Config.ThreadID = "t"
		m.check("List of the copy", tp)
		byGet, err := m.s.GetTuple(ctx, Config{ThreadID: "c", CheckpointNS: tp.Config.CheckpointNS, CheckpointID: tp.Config.CheckpointID})
		if err != nil {
			m.t.Fatalf("GetTuple of the copy: %v", err)
		}
		byGet.Config.ThreadID = "t"
		m.check("GetTuple of the copy", byGet)
	}
	if want := m.count(ListOptions{ThreadID: "t"}); seen != want {
		m.t.Fatalf("the copy lists %d checkpoints, t %d", seen, want)
	}
	if err := m.s.DeleteThread(ctx, "c"); err != nil {
		m.t.Fatal(err)
	}
}

// roundTrip exports the store, imports the dump into a new file and goes
// on with that one: what it reads must be what the model saved, and later
// appends extend the imported lineages.
func (m *foldModel) roundTrip() {
	ctx := context.Background()
	var dump bytes.Buffer
	if _, err := m.s.Export(ctx, &dump, ExportOptions{}); err != nil {
		m.t.Fatalf("Export: %v", err)
	}
	m.files++
	path := filepath.Join(filepath.Dir(m.path), fmt.Sprintf("i%d.db", m.files))
	s, err := Open(path, m.opts)
	if err != nil {
		m.t.Fatal(err)
	}
	if _, err := s.Import(ctx, &dump, ImportOptions{}); err != nil {
		s.Close()
		m.t.Fatalf("Import: %v", err)
	}
	if err := m.s.Close(); err != nil {
		m.t.Fatal(err)
	}
	m.s, m.path = s, path
	m.checkAll()
}
