package difftest

// The generator: random put / putWrites / getTuple / list / deleteThread
// steps, with the model of the threads it needs to make valid ones.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// gen builds random call sequences over a few threads and namespaces,
// remembering what it stored so parents and targets exist.
type gen struct {
	rng     *rand.Rand
	ms      uint64 // time of the next id
	version int
	// state per (thread, ns, id): the channel values and versions of that
	// checkpoint, for children.
	cps     map[[3]string]cpState
	order   [][3]string // cps in put order (with re-puts once)
	metas   []map[string]any
	threads []string
	nss     []string
}

type cpState struct {
	values   map[string]any
	versions map[string]string
	parent   string
}

// ancestor reports whether id is parent or one of its ancestors in
// (thread, ns): putting id again under parent would make a cycle, which
// ckpt refuses (docs/api.md) and LangGraph stores.
func (g *gen) ancestor(thread, ns, id, parent string) bool {
	for seen := 0; parent != "" && seen <= len(g.order); seen++ {
		if parent == id {
			return true
		}
		st, ok := g.cps[[3]string{thread, ns, parent}]
		if !ok {
			return false
		}
		parent = st.parent
	}
	return false
}

func newGen(seed uint64) *gen {
	return &gen{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ms:      1_700_000_000_000,
		cps:     map[[3]string]cpState{},
		threads: []string{"t1", "t2", "thread-ü", "t 4"},
		nss:     []string{"", "", "sub:1", "sub|x:2"},
	}
}

func (g *gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *gen) newID() string {
	g.ms += uint64(1 + g.rng.IntN(3))
	var id ulid.ULID
	_ = id.SetTime(g.ms)
	e := id[6:]
	for i := range e {
		e[i] = byte(g.rng.IntN(256))
	}
	return id.String()
}

func (g *gen) value(depth int) any {
	switch n := g.rng.IntN(10); {
	case n == 0:
		return nil
	case n == 1:
		return g.rng.IntN(2) == 0
	case n == 2:
		return g.rng.IntN(2000) - 1000
	case n == 3:
		return float64(g.rng.IntN(1000))/8 + 0.125
	case n == 4:
		return ""
	case n == 5:
		return g.pick([]string{"héllo", "日本語", "emoji 😀", "a\"b\\c", "x"})
	case n == 6 && depth < 2:
		m := map[string]any{}
		for range g.rng.IntN(3) {
			m[g.pick([]string{"k", "ключ", "", "deep"})] = g.value(depth + 1)
		}
		return m
	case n == 7 && depth < 2:
		var l []any
		for range g.rng.IntN(3) {
			l = append(l, g.value(depth+1))
		}
		if l == nil {
			l = []any{}
		}
		return l
	}
	return g.rng.IntN(100)
}

func (g *gen) metadata(step int, parent string) map[string]any {
	md := map[string]any{
		"source": g.pick([]string{"input", "loop", "update", "fork"}),
		"step":   step,
	}
	if parent != "" {
		md["parents"] = map[string]any{"": parent}
	} else {
		md["parents"] = map[string]any{}
	}
	if g.rng.IntN(2) == 0 {
		md["writes"] = map[string]any{"node": map[string]any{"a": g.value(1)}}
	}
	for range g.rng.IntN(3) {
		md[g.pick([]string{"run_id", "score", "note", "ünï", "empty", "nil", "nested"})] = g.value(0)
	}
	g.metas = append(g.metas, md)
	return md
}

// step is one call, sent to both sides.
type step struct {
	req map[string]any
	do  func(ctx context.Context, s *Subject) (any, error)
}

func (g *gen) next(t *testing.T) step {
	switch n := g.rng.IntN(20); {
	case n < 6 || len(g.order) == 0:
		return g.put(t)
	case n < 11:
		return g.putWrites()
	case n < 15:
		return g.getTuple(t)
	case n < 19:
		return g.list(t)
	default:
		thread := g.pick(append(g.threads, "nobody"))
		for k := range g.cps {
			if k[0] == thread {
				delete(g.cps, k)
			}
		}
		g.order = slices.DeleteFunc(g.order, func(k [3]string) bool { return k[0] == thread })
		return step{
			req: map[string]any{"op": "deleteThread", "thread": thread},
			do: func(ctx context.Context, s *Subject) (any, error) {
				return nil, s.Saver.DeleteThread(ctx, thread)
			},
		}
	}
}

func (g *gen) put(t *testing.T) step {
	thread, ns := g.pick(g.threads), g.pick(g.nss)
	var parent string
	base := cpState{values: map[string]any{}, versions: map[string]string{}}
	var same []string // checkpoints of (thread, ns)
	for _, k := range g.order {
		if k[0] == thread && k[1] == ns {
			same = append(same, k[2])
		}
	}
	if len(same) > 0 && g.rng.IntN(5) > 0 {
		parent = same[len(same)-1]
		if g.rng.IntN(4) == 0 {
			parent = same[g.rng.IntN(len(same))] // a fork
		}
		base = g.cps[[3]string{thread, ns, parent}]
	}
	id := g.newID()
	if len(g.order) > 0 && g.rng.IntN(15) == 0 {
		// An id another thread or namespace holds (as CopyThread makes).
		if k := g.order[g.rng.IntN(len(g.order))]; k[0] != thread || k[1] != ns {
			id = k[2]
		}
	}
	if len(same) > 1 && g.rng.IntN(12) == 0 {
		id = same[g.rng.IntN(len(same))] // the same id again (a retried put)
	}
	if g.ancestor(thread, ns, id, parent) {
		id = g.newID()
	}
	st := cpState{values: maps.Clone(base.values), versions: maps.Clone(base.versions), parent: parent}
	newVersions := map[string]string{}
	for _, ch := range []string{"messages", "a", "b", "ü"} {
		if g.rng.IntN(3) == 0 {
			continue
		}
		if g.rng.IntN(10) == 0 {
			delete(st.versions, ch) // the channel goes
			delete(st.values, ch)
			continue
		}
		g.version++
		v := fmt.Sprintf("%08d.%d", g.version, g.rng.IntN(10))
		newVersions[ch] = v
		st.versions[ch] = v
		if g.rng.IntN(8) == 0 {
			delete(st.values, ch) // named without a value
		} else {
			st.values[ch] = g.value(0)
		}
	}
	key := [3]string{thread, ns, id}
	if _, ok := g.cps[key]; !ok {
		g.order = append(g.order, key)
	}
	g.cps[key] = st
	ts := time.UnixMilli(int64(g.ms)).UTC()
	seen := map[string]map[string]string{}
	if g.rng.IntN(2) == 0 {
		seen["node"] = maps.Clone(base.versions)
	}
	md := g.metadata(g.rng.IntN(10)-1, parent)
	cp := map[string]any{
		"v": 4, "id": id, "ts": ts.Format(time.RFC3339Nano),
		"channel_values": st.values, "channel_versions": st.versions, "versions_seen": seen,
	}
	// A third of the puts carry pending writes: PutFull where the Subject
	// has it, Put then PutWrites per task otherwise and in LangGraph.
	var tasks []ckpt.TaskWrites
	var tj []any
	if g.rng.IntN(3) == 0 {
		for range 1 + g.rng.IntN(2) {
			tw, j := g.taskWrites()
			tasks, tj = append(tasks, tw), append(tj, j)
		}
	}
	return step{
		req: map[string]any{"op": "put", "thread": thread, "ns": ns, "parent": parent, "cp": jsonValue(t, cp), "metadata": jsonValue(t, md), "new_versions": newVersions, "tasks": jsonValue(t, tj)},
		do: func(ctx context.Context, s *Subject) (any, error) {
			cfg := ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent}
			cp := ckpt.Checkpoint{V: 4, ID: id, TS: ts, ChannelValues: maps.Clone(st.values), ChannelVersions: maps.Clone(st.versions), VersionsSeen: seen}
			if len(tasks) > 0 && s.PutFull != nil {
				c, err := s.PutFull(ctx, cfg, cp, ckpt.Metadata(md), newVersions, tasks)
				return cfgJSON(c), err
			}
			c, err := s.Saver.Put(ctx, cfg, cp, ckpt.Metadata(md), newVersions)
			for _, tw := range tasks {
				if err != nil {
					break
				}
				err = s.Saver.PutWrites(ctx, c, tw.Writes, tw.TaskID, tw.TaskPath)
			}
			return cfgJSON(c), err
		},
	}
}

// taskWrites returns one task's pending writes, and them for the driver.
func (g *gen) taskWrites() (ckpt.TaskWrites, map[string]any) {
	task := g.pick([]string{"task-1", "task-2", "tâche"})
	path := g.pick([]string{"", "~__pregel_pull, node", "~__pregel_push, 0", "ü"})
	chans := []string{"a", "b", "messages", ckpt.ChannelError, ckpt.ChannelInterrupt, ckpt.ChannelScheduled, ckpt.ChannelResume}
	var writes []ckpt.Write
	var wj [][]any
	for range 1 + g.rng.IntN(3) {
		ch := g.pick(chans)
		v := g.value(0)
		writes = append(writes, ckpt.Write{Channel: ch, Value: v})
		wj = append(wj, []any{ch, v})
	}
	return ckpt.TaskWrites{TaskID: task, TaskPath: path, Writes: writes}, map[string]any{"task_id": task, "task_path": path, "writes": wj}
}

func (g *gen) putWrites() step {
	k := g.order[g.rng.IntN(len(g.order))]
	tw, j := g.taskWrites()
	task, path, writes, wj := tw.TaskID, tw.TaskPath, tw.Writes, j["writes"]
	return step{
		req: map[string]any{"op": "putWrites", "thread": k[0], "ns": k[1], "id": k[2], "writes": wj, "task_id": task, "task_path": path},
		do: func(ctx context.Context, s *Subject) (any, error) {
			return nil, s.Saver.PutWrites(ctx, ckpt.Config{ThreadID: k[0], CheckpointNS: k[1], CheckpointID: k[2]}, writes, task, path)
		},
	}
}

func (g *gen) someID() string {
	if len(g.order) > 0 && g.rng.IntN(4) > 0 {
		return g.order[g.rng.IntN(len(g.order))][2]
	}
	return g.newID()
}

func (g *gen) getTuple(t *testing.T) step {
	thread, ns, id := g.pick(append(g.threads, "nobody")), g.pick(g.nss), ""
	if len(g.order) > 0 && g.rng.IntN(2) == 0 {
		k := g.order[g.rng.IntN(len(g.order))]
		thread, ns, id = k[0], k[1], k[2]
		if g.rng.IntN(5) == 0 {
			ns = g.pick(g.nss) // maybe the id in another namespace
		}
	} else if g.rng.IntN(3) == 0 {
		id = g.someID()
	}
	return step{
		req: map[string]any{"op": "getTuple", "thread": thread, "ns": ns, "id": id},
		do: func(ctx context.Context, s *Subject) (any, error) {
			cfg := ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: id}
			tp, err := s.Saver.GetTuple(ctx, cfg)
			var rtp *ckpt.Tuple
			if s.GetTuple != nil {
				// Another read path, which must read the same.
				var rerr error
				rtp, rerr = s.GetTuple(ctx, cfg)
				if (err == nil) != (rerr == nil) || err != nil && err.Error() != rerr.Error() {
					return nil, fmt.Errorf("GetTuple: %v; the other read: %v", err, rerr)
				}
			}
			if errors.Is(err, ckpt.ErrNotFound) {
				return nil, nil // LangGraph: undefined
			}
			if err != nil {
				return nil, err
			}
			got := tupleJSON(t, tp)
			if rtp != nil {
				if r := tupleJSON(t, rtp); !reflect.DeepEqual(r, got) {
					return nil, fmt.Errorf("GetTuple %s, the other read %s", js(got), js(r))
				}
			}
			return got, nil
		},
	}
}

func (g *gen) list(t *testing.T) step {
	var thread, ns *string
	req := map[string]any{"op": "list", "thread": nil, "ns": nil, "before": "", "limit": 0, "filter": nil}
	if g.rng.IntN(3) > 0 {
		th := g.pick(append(g.threads, "nobody"))
		thread, req["thread"] = &th, th
	}
	if g.rng.IntN(2) == 0 {
		n := g.pick(g.nss)
		ns, req["ns"] = &n, n
	}
	opts := ckpt.ListOptions{Namespace: ns}
	if thread != nil {
		opts.ThreadID = *thread
	}
	if g.rng.IntN(4) == 0 {
		opts.Before = g.someID()
		req["before"] = opts.Before
	}
	if g.rng.IntN(3) == 0 {
		opts.Limit = 1 + g.rng.IntN(4)
		if g.rng.IntN(4) == 0 {
			opts.Limit = 60 + g.rng.IntN(20) // about a List page (64)
		}
		req["limit"] = opts.Limit
	}
	if g.rng.IntN(3) == 0 && len(g.metas) > 0 {
		md := g.metas[g.rng.IntN(len(g.metas))]
		f := map[string]any{}
		for k, v := range md {
			switch v.(type) {
			case map[string]any:
				continue // nested maps: ckpt matches subsets, by design
			}
			if g.rng.IntN(2) == 0 {
				f[k] = v
			}
		}
		if g.rng.IntN(6) == 0 {
			f["step"] = g.rng.IntN(10) - 1
		}
		if len(f) > 0 {
			opts.Filter = f
			req["filter"] = jsonValue(t, f)
		}
	}
	return step{
		req: req,
		do: func(ctx context.Context, s *Subject) (any, error) {
			out := []any{}
			for tp, err := range s.Saver.List(ctx, opts) {
				if err != nil {
					return nil, err
				}
				out = append(out, tupleJSON(t, tp))
			}
			return out, nil
		},
	}
}
