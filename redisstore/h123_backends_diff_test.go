package redisstore

// A differential hunt of the two backends against each other: random
// sequences of every call both have (puts, forks, PutFull, pending writes
// with special channels, namespaces, copies, prunes, keep-last, deletes
// for runs, thread deletes, compare-and-set puts), sent to a bbolt
// ckpt.Store and a redisstore.Store side by side. After each call the
// error classes must agree, and then the whole visible state: List of
// every thread and of all of them, and GetTuple of every checkpoint (and
// of each namespace's newest), with metadata, values, parents and pending
// writes.
//
// One fixed seed of 120 steps by default (under a second);
// CKPT_H123_SEEDS=n runs n seeds, CKPT_H123_STEPS=m m steps each.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// h123Backend is one side: the Saver plus the calls named differently.
type h123Backend struct {
	name     string
	saver    ckpt.Saver
	putFull  func(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, nv map[string]string, w []ckpt.TaskWrites) (ckpt.Config, error)
	keepLast func(ctx context.Context, threads []string, n int) error
	last     string // what a List step read
}

func h123Backends(t *testing.T) [2]*h123Backend {
	srv := sharedServer(t)
	r := newTestStore(t, srv, Options{})
	b, err := ckpt.Open(filepath.Join(t.TempDir(), "h123.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return [2]*h123Backend{
		{name: "bbolt", saver: b, putFull: b.PutFull, keepLast: func(ctx context.Context, threads []string, n int) error {
			// The file store's keep-last is GC with a Policy, over every
			// thread; the hunt passes every thread it uses.
			_, err := b.GC(ctx, ckpt.Policy{KeepLast: n})
			return err
		}},
		{name: "redis", saver: r, putFull: r.PutFull, keepLast: func(ctx context.Context, threads []string, n int) error {
			_, err := r.KeepLast(ctx, threads, n)
			return err
		}},
	}
}

func errClass(err error) string {
	if err == nil {
		return "nil"
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"ErrVersionReused", ckpt.ErrVersionReused},
		{"ErrConflict", ckpt.ErrConflict},
		{"ErrNotFound", ckpt.ErrNotFound},
		{"ErrExists", ckpt.ErrExists},
		{"ErrInvalidConfig", ckpt.ErrInvalidConfig},
		{"ErrEncode", ckpt.ErrEncode},
		{"ErrCorrupt", ckpt.ErrCorrupt},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "other: " + err.Error()
}

type h123CP struct {
	values   map[string]any
	versions map[string]string
}

type h123Gen struct {
	rng     *rand.Rand
	ms      uint64
	version int
	cps     map[[3]string]h123CP
	order   [][3]string
	threads []string
	nss     []string
	live    ckpt.Saver // to pick parents that exist
}

func (g *h123Gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *h123Gen) newID() string {
	g.ms += uint64(1 + g.rng.IntN(3))
	var id ulid.ULID
	_ = id.SetTime(g.ms)
	for i := range id[6:] {
		id[6+i] = byte(g.rng.IntN(256))
	}
	return id.String()
}

type h123Struct struct {
	A int
	B string `msgpack:"b,omitempty"`
}

func (g *h123Gen) value() any {
	if g.rng.IntN(3) == 0 {
		return g.oddValue()
	}
	switch g.rng.IntN(6) {
	case 0:
		return nil
	case 1:
		return g.rng.IntN(2000) - 1000
	case 2:
		return g.pick([]string{"", "héllo", "x"})
	case 3:
		return map[string]any{"k": g.rng.IntN(5)}
	case 4:
		return []any{g.rng.IntN(3), "a"}
	}
	return g.rng.IntN(2) == 0
}

// oddValue is a value of a less common Go type.
func (g *h123Gen) oddValue() any {
	switch g.rng.IntN(16) {
	case 0:
		return uint64(math.MaxUint64)
	case 1:
		return int64(math.MinInt64)
	case 2:
		return float32(1.5)
	case 3:
		return []byte{0, 1, 2}
	case 4:
		return time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	case 5:
		return h123Struct{A: 3}
	case 6:
		return &h123Struct{A: 4, B: "x"}
	case 7:
		return map[string]int{"a": 1, "b": 2}
	case 8:
		return map[int]string{1: "a"}
	case 9:
		return math.NaN()
	case 10:
		return []string(nil)
	case 11:
		return map[string]any(nil)
	case 12:
		return ckpt.Raw{0x93, 1, 2, 3}
	case 13:
		return [2]int{1, 2}
	case 14:
		return int8(-5)
	}
	return map[string]any{"deep": []any{map[string]any{"x": nil}}}
}

func (g *h123Gen) tasks() []ckpt.TaskWrites {
	var out []ckpt.TaskWrites
	for range 1 + g.rng.IntN(2) {
		chans := []string{"a", "b", ckpt.ChannelError, ckpt.ChannelInterrupt, ckpt.ChannelScheduled, ckpt.ChannelResume}
		var ws []ckpt.Write
		for range 1 + g.rng.IntN(3) {
			ws = append(ws, ckpt.Write{Channel: g.pick(chans), Value: g.value()})
		}
		out = append(out, ckpt.TaskWrites{TaskID: g.pick([]string{"task-1", "task-2"}), TaskPath: g.pick([]string{"", "p"}), Writes: ws})
	}
	return out
}

type h123Step struct {
	desc string
	do   func(ctx context.Context, b *h123Backend) error
}

func (g *h123Gen) next() h123Step {
	switch n := g.rng.IntN(36); {
	case n < 11 || len(g.order) == 0:
		return g.put()
	case n < 30 && n >= 27:
		return g.odd()
	case n >= 30:
		return g.list()
	case n < 16:
		k := g.someKey()
		tw := g.tasks()[0]
		return h123Step{fmt.Sprintf("PutWrites(%q) %+v", k, tw), func(ctx context.Context, b *h123Backend) error {
			return b.saver.PutWrites(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]}, tw.Writes, tw.TaskID, tw.TaskPath)
		}}
	case n < 18:
		th := g.pick(g.threads)
		return h123Step{fmt.Sprintf("DeleteThread(%q)", th), func(ctx context.Context, b *h123Backend) error {
			return b.saver.DeleteThread(ctx, th)
		}}
	case n < 22:
		src, dst := g.pick(g.threads), g.pick(g.threads)
		opts := ckpt.CopyOptions{Replace: g.rng.IntN(2) == 0}
		for _, k := range g.order {
			if k[0] == src {
				if _, ok := g.cps[[3]string{dst, k[1], k[2]}]; !ok {
					g.order = append(g.order, [3]string{dst, k[1], k[2]})
				}
				g.cps[[3]string{dst, k[1], k[2]}] = g.cps[k]
			}
		}
		return h123Step{fmt.Sprintf("CopyThread(%q, %q, %+v)", src, dst, opts), func(ctx context.Context, b *h123Backend) error {
			return b.saver.CopyThread(ctx, src, dst, opts)
		}}
	case n < 24:
		var ths []string
		for _, th := range g.threads {
			if g.rng.IntN(2) == 0 {
				ths = append(ths, th)
			}
		}
		st := ckpt.PruneStrategy(g.rng.IntN(2))
		return h123Step{fmt.Sprintf("Prune(%q, %v)", ths, st), func(ctx context.Context, b *h123Backend) error {
			return b.saver.Prune(ctx, ths, st)
		}}
	case n < 26:
		k := 1 + g.rng.IntN(3)
		ths := slices.Clone(g.threads)
		return h123Step{fmt.Sprintf("KeepLast(%d)", k), func(ctx context.Context, b *h123Backend) error {
			return b.keepLast(ctx, ths, k)
		}}
	case n < 27:
		var runs []string
		for range g.rng.IntN(3) {
			runs = append(runs, g.pick([]string{"r1", "r2", "r3", ""}))
		}
		return h123Step{fmt.Sprintf("DeleteForRuns(%q)", runs), func(ctx context.Context, b *h123Backend) error {
			return b.saver.DeleteForRuns(ctx, runs)
		}}
	}
	return g.put()
}

// list compares one List call with options (its result is the error, or
// a mismatch found by comparing both sides in the step's caller).
func (g *h123Gen) list() h123Step {
	opts := ckpt.ListOptions{}
	if g.rng.IntN(3) > 0 {
		opts.ThreadID = g.pick(append(g.threads, "nobody"))
	}
	if g.rng.IntN(2) == 0 {
		opts.Namespace = ckpt.NS(g.pick(g.nss))
	}
	if g.rng.IntN(3) == 0 && len(g.order) > 0 {
		opts.Before = g.order[g.rng.IntN(len(g.order))][2]
	}
	if g.rng.IntN(3) == 0 {
		opts.Limit = g.rng.IntN(4) - 1
	}
	if g.rng.IntN(2) == 0 {
		f := map[string]any{}
		switch g.rng.IntN(5) {
		case 0:
			f["run_id"] = g.pick([]string{"r1", "r2"})
		case 1:
			f["step"] = g.rng.IntN(5)
		case 2:
			f["step"] = float64(g.rng.IntN(5))
		case 3:
			f["source"] = g.pick([]string{"loop", "input"})
			f["step"] = int64(g.rng.IntN(5))
		case 4:
			f["nested"] = map[string]any{"k": g.rng.IntN(3)}
		}
		opts.Filter = f
	}
	return h123Step{fmt.Sprintf("List(%+v ns %v)", opts, opts.Namespace != nil), func(ctx context.Context, b *h123Backend) error {
		var got []string
		for tp, err := range b.saver.List(ctx, opts) {
			if err != nil {
				return err
			}
			got = append(got, fmt.Sprintf("%+v", h123ViewOf(tp)))
		}
		b.last = fmt.Sprint(got)
		return nil
	}}
}

// odd is a call on the edge: bad ids, empty writes, a put sent again, a
// version reused with other content, an id another thread holds.
func (g *h123Gen) odd() h123Step {
	k := [3]string{"t1", "", "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
	if len(g.order) > 0 {
		k = g.someKey()
	}
	switch g.rng.IntN(9) {
	case 0:
		return h123Step{fmt.Sprintf("PutWrites(%q, no writes)", k), func(ctx context.Context, b *h123Backend) error {
			return b.saver.PutWrites(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]}, nil, "task-1", "")
		}}
	case 1:
		bad := g.pick([]string{"", "nope", "01arz3ndektsv4rrffq69g5fav", "01ARZ3NDEKTSV4RRFFQ69G5FA"})
		return h123Step{fmt.Sprintf("GetTuple(%q, id %q)", k, bad), func(ctx context.Context, b *h123Backend) error {
			_, err := b.saver.GetTuple(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: bad})
			return err
		}}
	case 2:
		th := g.pick([]string{"", "t1"})
		return h123Step{fmt.Sprintf("Prune([%q], strategy 7)", th), func(ctx context.Context, b *h123Backend) error {
			return b.saver.Prune(ctx, []string{th}, 7)
		}}
	case 3:
		return h123Step{"Prune([\"\"] keep-latest) / CopyThread(\"\")", func(ctx context.Context, b *h123Backend) error {
			e1 := b.saver.Prune(ctx, []string{"t1", ""}, ckpt.PruneKeepLatest)
			e2 := b.saver.CopyThread(ctx, "", "t1", ckpt.CopyOptions{})
			e3 := b.saver.DeleteThread(ctx, "")
			return fmt.Errorf("%s %s %s", errClass(e1), errClass(e2), errClass(e3))
		}}
	case 4:
		// The same put again (a retry), or under another parent.
		cp, ok := g.cps[k]
		if !ok {
			return g.put()
		}
		return h123Step{fmt.Sprintf("Put again %q", k), func(ctx context.Context, b *h123Backend) error {
			tp, err := b.saver.GetTuple(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]})
			if err != nil {
				return err
			}
			parent := ckpt.Config{ThreadID: k[0], CheckpointNS: k[1]}
			if tp.ParentConfig != nil {
				parent = *tp.ParentConfig
			}
			c := ckpt.Checkpoint{V: tp.Checkpoint.V, ID: k[2], TS: tp.Checkpoint.TS, ChannelValues: maps.Clone(cp.values), ChannelVersions: maps.Clone(cp.versions)}
			md := map[string]any{}
			for k, v := range tp.Metadata {
				md[k] = v
			}
			_, err = b.saver.Put(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), parent, c, md, maps.Clone(cp.versions))
			return err
		}}
	case 5:
		// A version reused with other content.
		cp, ok := g.cps[k]
		if !ok || len(cp.versions) == 0 {
			return g.put()
		}
		ch := slices.Sorted(maps.Keys(cp.versions))[0]
		id := g.newID()
		return h123Step{fmt.Sprintf("Put %q child %s reusing %s@%s", k, id, ch, cp.versions[ch]), func(ctx context.Context, b *h123Backend) error {
			c := ckpt.Checkpoint{V: 4, ID: id, TS: time.UnixMilli(int64(g.ms)).UTC(), ChannelValues: map[string]any{ch: "other content"}, ChannelVersions: maps.Clone(cp.versions)}
			_, err := b.saver.Put(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]}, c, nil, map[string]string{ch: cp.versions[ch]})
			return err
		}}
	case 6:
		// An id another thread holds, as a new root here.
		th := g.pick(g.threads)
		ns := g.pick(g.nss)
		key := [3]string{th, ns, k[2]}
		if _, ok := g.cps[key]; !ok {
			g.order = append(g.order, key)
			g.cps[key] = h123CP{values: map[string]any{}, versions: map[string]string{}}
		}
		return h123Step{fmt.Sprintf("Put root %q", key), func(ctx context.Context, b *h123Backend) error {
			c := ckpt.Checkpoint{V: 4, ID: k[2], TS: time.UnixMilli(int64(g.ms)).UTC()}
			_, err := b.saver.Put(ctx, ckpt.Config{ThreadID: th, CheckpointNS: ns}, c, ckpt.Metadata{"run_id": 7, "nested": map[string]any{"k": 1, "run_id": "r1"}}, nil)
			return err
		}}
	case 7:
		// Put then PutWrites, as LangGraph does, with an empty channel name.
		return h123Step{fmt.Sprintf("PutWrites(%q) channel \"\"", k), func(ctx context.Context, b *h123Backend) error {
			return b.saver.PutWrites(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]}, []ckpt.Write{{Channel: "", Value: 1}, {Channel: ckpt.ChannelError, Value: nil}}, "", "")
		}}
	}
	th, id := g.pick(g.threads), g.newID()
	return h123Step{fmt.Sprintf("PutFull(%q) empty task writes", th), func(ctx context.Context, b *h123Backend) error {
		_, err := b.putFull(ctx, ckpt.Config{ThreadID: th, CheckpointNS: "sub:1"}, ckpt.Checkpoint{V: 4, ID: id, TS: time.UnixMilli(int64(g.ms)).UTC()}, nil, nil, []ckpt.TaskWrites{{TaskID: "x"}, {TaskID: "", Writes: []ckpt.Write{{Channel: "a", Value: 1}}}})
		return err
	}}
}

// someKey picks a checkpoint the generator put, mostly one still stored.
func (g *h123Gen) someKey() [3]string {
	if g.live != nil && g.rng.IntN(4) > 0 {
		var live [][3]string
		for tp, err := range g.live.List(context.Background(), ckpt.ListOptions{}) {
			if err != nil {
				break
			}
			k := [3]string{tp.Config.ThreadID, tp.Config.CheckpointNS, tp.Config.CheckpointID}
			if _, ok := g.cps[k]; ok {
				live = append(live, k)
			}
		}
		if len(live) > 0 {
			return live[g.rng.IntN(len(live))]
		}
	}
	return g.order[g.rng.IntN(len(g.order))]
}

func (g *h123Gen) put() h123Step {
	thread, ns := g.pick(g.threads), g.pick(g.nss)
	var same []string
	for _, k := range g.order {
		if k[0] == thread && k[1] == ns {
			same = append(same, k[2])
		}
	}
	if g.live != nil && g.rng.IntN(6) > 0 {
		// Mostly a parent that is still there (the file store's view;
		// the other must agree).
		same = same[:0]
		for tp, err := range g.live.List(context.Background(), ckpt.ListOptions{ThreadID: thread, Namespace: ckpt.NS(ns)}) {
			if err != nil {
				break
			}
			if _, ok := g.cps[[3]string{thread, ns, tp.Config.CheckpointID}]; ok {
				same = append([]string{tp.Config.CheckpointID}, same...)
			}
		}
	}
	parent := ""
	base := h123CP{values: map[string]any{}, versions: map[string]string{}}
	if len(same) > 0 && g.rng.IntN(5) > 0 {
		parent = same[len(same)-1]
		if g.rng.IntN(3) == 0 {
			parent = same[g.rng.IntN(len(same))] // a fork
		}
		base = g.cps[[3]string{thread, ns, parent}]
	}
	id := g.newID()
	st := h123CP{values: maps.Clone(base.values), versions: maps.Clone(base.versions)}
	nv := map[string]string{}
	for _, ch := range []string{"a", "b", "m"} {
		if g.rng.IntN(3) == 0 {
			continue
		}
		g.version++
		v := fmt.Sprintf("%06d", g.version)
		nv[ch], st.versions[ch] = v, v
		if g.rng.IntN(8) == 0 {
			delete(st.values, ch)
		} else {
			st.values[ch] = g.value()
		}
	}
	md := ckpt.Metadata{"step": g.rng.IntN(5), "source": g.pick([]string{"loop", "input"})}
	if g.rng.IntN(4) == 0 {
		md[g.pick([]string{"odd", "nested", "run_id"})] = g.oddValue()
	}
	if g.rng.IntN(3) > 0 {
		md["run_id"] = g.pick([]string{"r1", "r2", "r3"})
	}
	var tasks []ckpt.TaskWrites
	if g.rng.IntN(3) == 0 {
		tasks = g.tasks()
	}
	ifHead := g.rng.IntN(5) == 0
	k := [3]string{thread, ns, id}
	g.order = append(g.order, k)
	g.cps[k] = st
	ts := time.UnixMilli(int64(g.ms)).UTC()
	switch g.rng.IntN(8) {
	case 0:
		ts = ts.Add(123456 * time.Nanosecond).In(time.FixedZone("x", 3600))
	case 1:
		ts = time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC)
	case 2:
		ts = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	v := g.pick([]string{"4", "4", "0", "-1", "1000000"})
	var seen map[string]map[string]string
	if g.rng.IntN(2) == 0 {
		seen = map[string]map[string]string{"node": maps.Clone(base.versions), "empty": {}}
	}
	ghost := g.rng.IntN(12) == 0
	desc := fmt.Sprintf("Put(%q/%q parent %q id %q ifHead %v nv %v md %v tasks %+v v %s ts %v ghost %v)", thread, ns, parent, id, ifHead, nv, md, tasks, v, ts, ghost)
	return h123Step{desc, func(ctx context.Context, b *h123Backend) error {
		if ifHead {
			ctx = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
		}
		cfg := ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent}
		vi, _ := strconv.Atoi(v)
		cp := ckpt.Checkpoint{V: vi, ID: id, TS: ts, ChannelValues: maps.Clone(st.values), ChannelVersions: maps.Clone(st.versions), VersionsSeen: seen}
		if ghost {
			cp.ChannelVersions["ghost"] = "999999" // named, never stored
		}
		_, err := b.putFull(ctx, cfg, cp, maps.Clone(md), maps.Clone(nv), tasks)
		return err
	}}
}

// h123View is a tuple as compared (ids the store assigned are replaced by
// their position, so both sides' own ids compare equal).
type h123View struct {
	Config   ckpt.Config
	Parent   string
	V        int
	TS       string
	Values   map[string]string
	Versions map[string]string
	Seen     map[string]map[string]string
	Meta     string
	Writes   []string
}

func h123ViewOf(tp *ckpt.Tuple) h123View {
	v := h123View{Config: tp.Config, V: tp.Checkpoint.V, Versions: tp.Checkpoint.ChannelVersions, Seen: tp.Checkpoint.VersionsSeen, Meta: fmt.Sprintf("%#v", map[string]any(tp.Metadata)), Values: map[string]string{}}
	if tp.ParentConfig != nil {
		v.Parent = fmt.Sprintf("%+v", *tp.ParentConfig)
	}
	v.TS = tp.Checkpoint.TS.UTC().Format(time.RFC3339Nano)
	for k, x := range tp.Checkpoint.ChannelValues {
		if r, ok := x.(ckpt.Raw); ok {
			v.Values[k] = fmt.Sprintf("%x", []byte(r))
		} else {
			v.Values[k] = fmt.Sprintf("%T %v", x, x)
		}
	}
	for _, w := range tp.PendingWrites {
		v.Writes = append(v.Writes, fmt.Sprintf("%s|%s|%d|%s|%x", w.TaskID, w.TaskPath, w.Idx, w.Channel, []byte(w.Value)))
	}
	if len(v.Versions) == 0 {
		v.Versions = nil
	}
	if len(v.Seen) == 0 {
		v.Seen = nil
	}
	return v
}

// h123State is everything visible on one side.
func h123State(ctx context.Context, b *h123Backend, threads, nss []string, ids [][3]string) (map[string]string, error) {
	out := map[string]string{}
	list := func(key string, opts ckpt.ListOptions) error {
		var views []h123View
		for tp, err := range b.saver.List(ctx, opts) {
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			views = append(views, h123ViewOf(tp))
		}
		out[key] = fmt.Sprintf("%+v", views)
		return nil
	}
	if err := list("List(all)", ckpt.ListOptions{}); err != nil {
		return nil, err
	}
	for _, th := range threads {
		if err := list("List("+th+")", ckpt.ListOptions{ThreadID: th}); err != nil {
			return nil, err
		}
		for _, ns := range nss {
			if err := list("List("+th+"/"+ns+")", ckpt.ListOptions{ThreadID: th, Namespace: ckpt.NS(ns)}); err != nil {
				return nil, err
			}
			tp, err := b.saver.GetTuple(ctx, ckpt.Config{ThreadID: th, CheckpointNS: ns})
			key := "GetTuple(" + th + "/" + ns + ")"
			if err != nil {
				out[key] = errClass(err)
			} else {
				out[key] = fmt.Sprintf("%+v", h123ViewOf(tp))
			}
		}
	}
	for _, k := range ids {
		tp, err := b.saver.GetTuple(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]})
		key := fmt.Sprintf("GetTuple(%q)", k)
		if err != nil {
			out[key] = errClass(err)
		} else {
			out[key] = fmt.Sprintf("%+v", h123ViewOf(tp))
		}
	}
	return out, nil
}

func h123Seeds() int {
	if n, err := strconv.Atoi(os.Getenv("CKPT_H123_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

func TestH123BackendsAgree(t *testing.T) {
	ctx := context.Background()
	steps := 120
	if n, err := strconv.Atoi(os.Getenv("CKPT_H123_STEPS")); err == nil && n > 0 {
		steps = n
	}
	tally := map[string]int{} // op and outcome, logged for -v
	defer func() {
		for _, k := range slices.Sorted(maps.Keys(tally)) {
			t.Logf("%6d %s", tally[k], k)
		}
	}()
	for seed := range uint64(h123Seeds()) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			bs := h123Backends(t)
			g := &h123Gen{
				rng:     rand.New(rand.NewPCG(seed, 0x123)),
				ms:      uint64(time.Now().UnixMilli()) - 100_000,
				cps:     map[[3]string]h123CP{},
				threads: []string{"t1", "t2", "t ü", "t:{x}|1"},
				nss:     []string{"", "sub:1", "n|a:b", "{n}\x00"},
				live:    bs[0].saver,
			}
			var log []string
			for i := range steps {
				s := g.next()
				log = append(log, s.desc)
				bs[0].last, bs[1].last = "", ""
				e0, e1 := s.do(ctx, bs[0]), s.do(ctx, bs[1])
				op, _, _ := strings.Cut(s.desc, "(")
				op, _, _ = strings.Cut(op, " ")
				tally[op+" "+errClass(e0)]++
				if errClass(e0) != errClass(e1) || bs[0].last != bs[1].last {
					t.Fatalf("seed %d step %d: %s\n bbolt: %v %s\n redis: %v %s\nsteps:\n%s", seed, i, s.desc, e0, bs[0].last, e1, bs[1].last, h123Tail(log))
				}
				st0, err0 := h123State(ctx, bs[0], g.threads, g.nss, g.order)
				st1, err1 := h123State(ctx, bs[1], g.threads, g.nss, g.order)
				if err0 != nil || err1 != nil {
					t.Fatalf("seed %d step %d: %s: state read: bbolt %v, redis %v", seed, i, s.desc, err0, err1)
				}
				for _, k := range slices.Sorted(maps.Keys(st0)) {
					if st0[k] != st1[k] {
						t.Fatalf("seed %d step %d: after %s\n%s differs:\n bbolt: %s\n redis: %s\nsteps:\n%s", seed, i, s.desc, k, st0[k], st1[k], h123Tail(log))
					}
				}
			}
		})
	}
}

func h123Tail(log []string) string {
	if len(log) > 15 {
		log = log[len(log)-15:]
	}
	out := ""
	for _, l := range log {
		out += "  " + l + "\n"
	}
	return out
}
