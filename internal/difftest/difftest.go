// Package difftest compares a ckpt.Saver with LangGraph.js's own savers
// (MemorySaver and SqliteSaver from @langchain/langgraph-checkpoint 1.2.2
// and @langchain/langgraph-checkpoint-sqlite 1.0.4): Run sends random
// sequences of Put, PutWrites, GetTuple, List and DeleteThread to the
// Saver and, as JSON lines, to testdata/driver/driver.mjs, and the answers
// must agree (normalised: JSON values, ids given to both sides). The
// bbolt store runs it here (diff_test.go), redisstore in its own module.
//
// It runs only with CKPT_DIFF=1, node on the PATH and the driver's
// node_modules installed (cd testdata/driver && npm ci), so CI needs no
// npm. CKPT_DIFF_SEQS sets the number of sequences (default 20, a few
// seconds), CKPT_DIFF_SEED the first seed.
//
// The sequences stay where ckpt documents no difference (README, "Where
// the Saver answers otherwise than LangGraph.js's savers"): parents and
// write targets exist, newVersions agree with ChannelVersions, no put
// again makes a checkpoint its own ancestor, filters hold no maps.
// Where the two LangGraph savers differ from each other, compare says
// which one ckpt follows.
package difftest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// Subject is the Saver under test for one sequence.
type Subject struct {
	Saver ckpt.Saver
	// GetTuple, if set, is another read path (a Reader) that must read
	// what Saver.GetTuple reads.
	GetTuple func(ctx context.Context, cfg ckpt.Config) (*ckpt.Tuple, error)
	// Churn, if set, is called between some calls (rng decides what it
	// does: apply a log, reopen a file); it returns the Subject to use
	// from then on and what it did, for the failure's call log.
	Churn func(rng *rand.Rand) (*Subject, string, error)
	// PutFull, if set, stores a checkpoint with pending writes in one call
	// (what Put and then PutWrites per task store).
	PutFull func(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string, writes []ckpt.TaskWrites) (ckpt.Config, error)
	// Close ends the sequence.
	Close func() error
}

// Run runs CKPT_DIFF_SEQS sequences, each on a fresh, empty Subject from
// newSubject, and reports every sequence whose answers differ from
// LangGraph.js's (at its first difference).
func Run(t *testing.T, newSubject func(t *testing.T, i int) *Subject) {
	o := startOracle(t)
	seed := uint64(1)
	if n, err := strconv.ParseUint(os.Getenv("CKPT_DIFF_SEED"), 10, 64); err == nil {
		seed = n
	}
	ctx := context.Background()
	diffs, calls := 0, 0
	for i := range seqs() {
		s := newSubject(t, i)
		o.call(t, map[string]any{"op": "reset"})
		g := newGen(seed + uint64(i))
		var log []string
		n := 60
		if i%5 == 4 {
			n = 250 // past a List page (64)
		}
		for range n {
			if s.Churn != nil && g.rng.IntN(20) == 0 {
				next, what, err := s.Churn(g.rng)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				s = next
				log = append(log, "("+what+")")
			}
			st := g.next(t)
			calls++
			line, _ := json.Marshal(st.req)
			log = append(log, string(line))
			got, err := st.do(ctx, s)
			a := o.call(t, st.req)
			if d := compare(t, st.req, got, err, a); d != "" {
				diffs++
				if diffs <= 5 {
					t.Errorf("seed %d, call %d: %s\n%s\ncalls:\n%s", seed+uint64(i), len(log), d, line, strings.Join(log, "\n"))
				}
				break // the states may differ from here on
			}
		}
		if s.Close != nil {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d calls in %d sequences, %d with a difference", calls, seqs(), diffs)
}

type oracle struct {
	cmd *exec.Cmd
	in  *json.Encoder
	out *bufio.Scanner
}

func startOracle(t *testing.T) *oracle {
	t.Helper()
	if os.Getenv("CKPT_DIFF") != "1" {
		t.Skip("differential test against LangGraph.js: set CKPT_DIFF=1 (needs node and testdata/driver/node_modules)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "testdata", "driver")
	for _, p := range []string{"@langchain/langgraph-checkpoint", "@langchain/langgraph-checkpoint-sqlite", "better-sqlite3"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			t.Skipf("%s not installed: cd %s && npm ci", p, dir)
		}
	}
	cmd := exec.Command(node, filepath.Join(dir, "driver.mjs"))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); cmd.Wait() })
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &oracle{cmd: cmd, in: json.NewEncoder(w), out: sc}
}

type result struct {
	OK  json.RawMessage `json:"ok"`
	Err *string         `json:"err"`
}

type answer struct {
	Mem result `json:"mem"`
	SQL result `json:"sql"`
}

func (o *oracle) call(t *testing.T, req map[string]any) answer {
	t.Helper()
	if err := o.in.Encode(req); err != nil {
		t.Fatalf("oracle: %v", err)
	}
	if !o.out.Scan() {
		t.Fatalf("oracle ended: %v", o.out.Err())
	}
	var a answer
	if err := json.Unmarshal(o.out.Bytes(), &a); err != nil {
		t.Fatalf("oracle answer %q: %v", o.out.Bytes(), err)
	}
	return a
}

// jsonValue turns any Go value into the generic JSON shape (float64
// numbers, map[string]any, []any), so both sides compare alike.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func cfgJSON(c ckpt.Config) map[string]any {
	return map[string]any{"thread_id": c.ThreadID, "checkpoint_ns": c.CheckpointNS, "checkpoint_id": c.CheckpointID}
}

// tupleJSON is a ckpt tuple in the driver's shape.
func tupleJSON(t *testing.T, tp *ckpt.Tuple) any {
	t.Helper()
	vals := map[string]any{}
	for ch, v := range tp.Checkpoint.ChannelValues {
		var x any
		if err := v.(ckpt.Raw).Decode(&x); err != nil {
			t.Fatalf("decode channel %q: %v", ch, err)
		}
		vals[ch] = x
	}
	writes := []any{}
	for _, w := range tp.PendingWrites {
		var x any
		if err := w.Value.Decode(&x); err != nil {
			t.Fatalf("decode write: %v", err)
		}
		writes = append(writes, []any{w.TaskID, w.Channel, x})
	}
	var parent any
	if tp.ParentConfig != nil {
		parent = cfgJSON(*tp.ParentConfig)
	}
	versions, seen := tp.Checkpoint.ChannelVersions, tp.Checkpoint.VersionsSeen
	if versions == nil {
		versions = map[string]string{}
	}
	if seen == nil {
		seen = map[string]map[string]string{}
	}
	return jsonValue(t, map[string]any{
		"config": cfgJSON(tp.Config),
		"parent": parent,
		"checkpoint": map[string]any{
			"v": tp.Checkpoint.V, "id": tp.Checkpoint.ID, "ts": tp.Checkpoint.TS.UTC().Format(time.RFC3339Nano),
			"channel_values": vals, "channel_versions": versions, "versions_seen": seen,
		},
		"metadata":       map[string]any(tp.Metadata),
		"pending_writes": writes,
	})
}

func decodeOK(t *testing.T, r result) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.OK, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

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
// ckpt refuses (README) and LangGraph stores.
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

func seqs() int {
	if n, err := strconv.Atoi(os.Getenv("CKPT_DIFF_SEQS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// compare returns "" when ckpt's answer (got, err) agrees with the oracle.
func compare(t *testing.T, req map[string]any, got any, err error, a answer) string {
	t.Helper()
	op := req["op"].(string)
	if err != nil {
		if a.Mem.Err != nil && a.SQL.Err != nil {
			return ""
		}
		return fmt.Sprintf("%s: ckpt error %v, LangGraph ok", op, err)
	}
	if a.Mem.Err != nil || a.SQL.Err != nil {
		return fmt.Sprintf("%s: ckpt ok, LangGraph mem err %v sql err %v", op, ptr(a.Mem.Err), ptr(a.SQL.Err))
	}
	g := jsonValue(t, got)
	mem, sql := decodeOK(t, a.Mem), decodeOK(t, a.SQL)
	switch op {
	case "list":
		// SqliteSaver orders the whole listing by id; MemorySaver thread by
		// thread and namespace by namespace (and its limit counts per
		// namespace), so the order is SqliteSaver's. Pending writes are
		// MemorySaver's (sorted by task path, task id, idx; SqliteSaver
		// leaves them in table order and ignores a special write sent
		// with regular ones): compared by getTuple.
		// Checkpoints of one id in several threads or namespaces (as
		// CopyThread makes) have no order in SqliteSaver: compared as a
		// set, and with a limit that cuts such a group only by id.
		cg, sg := stripWrites(g), stripWrites(sql)
		if !slices.Equal(ids(cg), ids(sg)) {
			return fmt.Sprintf("list: ckpt\n%s\nSqliteSaver\n%s", js(g), js(sql))
		}
		if req["limit"] != 0 {
			// The limit may cut a group of one id: its last group is
			// compared by id only.
			cg, sg = dropLastGroup(cg), dropLastGroup(sg)
		}
		{
			sortTies(cg)
			sortTies(sg)
			if !reflect.DeepEqual(cg, sg) {
				return fmt.Sprintf("list: ckpt\n%s\nSqliteSaver\n%s", js(g), js(sql))
			}
		}
		// MemorySaver matches filter values with ===, so a list or map
		// in a filter matches nothing there.
		if req["limit"] == 0 && scalarFilter(req["filter"]) && !sameSet(stripWrites(g), stripWrites(mem)) {
			return fmt.Sprintf("list: ckpt\n%s\nMemorySaver\n%s", js(g), js(mem))
		}
	case "getTuple":
		if !reflect.DeepEqual(g, mem) {
			return fmt.Sprintf("getTuple: ckpt\n%s\nMemorySaver\n%s", js(g), js(mem))
		}
		if !reflect.DeepEqual(stripWrites(g), stripWrites(sql)) {
			return fmt.Sprintf("getTuple: ckpt\n%s\nSqliteSaver\n%s", js(g), js(sql))
		}
	default:
		if !reflect.DeepEqual(g, mem) || !reflect.DeepEqual(g, sql) {
			return fmt.Sprintf("%s: ckpt %s, MemorySaver %s, SqliteSaver %s", op, js(g), js(mem), js(sql))
		}
	}
	return ""
}

func ptr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

func stripWrites(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripWrites(e)
		}
		return out
	case map[string]any:
		m := maps.Clone(x)
		delete(m, "pending_writes")
		return m
	}
	return v
}

func sameSet(a, b any) bool {
	as, _ := a.([]any)
	bs, _ := b.([]any)
	if len(as) != len(bs) {
		return false
	}
	key := func(v any) string { return js(v) }
	ka, kb := make([]string, len(as)), make([]string, len(bs))
	for i := range as {
		ka[i], kb[i] = key(as[i]), key(bs[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

func scalarFilter(f any) bool {
	m, _ := f.(map[string]any)
	for _, v := range m {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func ids(l any) []string {
	var out []string
	for _, e := range l.([]any) {
		out = append(out, e.(map[string]any)["config"].(map[string]any)["checkpoint_id"].(string))
	}
	return out
}

func dropLastGroup(l any) any {
	xs := l.([]any)
	id := ids(l)
	n := len(xs)
	for n > 0 && id[n-1] == id[len(id)-1] {
		n--
	}
	return xs[:n]
}

// sortTies orders tuples of one id by their JSON, leaving the rest.
func sortTies(l any) {
	xs := l.([]any)
	slices.SortStableFunc(xs, func(a, b any) int {
		ia := a.(map[string]any)["config"].(map[string]any)["checkpoint_id"].(string)
		ib := b.(map[string]any)["config"].(map[string]any)["checkpoint_id"].(string)
		if ia != ib {
			return strings.Compare(ib, ia)
		}
		return strings.Compare(js(a), js(b))
	})
}
