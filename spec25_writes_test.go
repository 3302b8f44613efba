package ckpt

// Held-out spec h25: pending writes that vanish.
//
// A checkpoint's pending writes are found by a prefix scan of its thread's
// wr/ bucket. When damage hides some or all of them (a record deleted by a
// tool, a flipped byte in a write key that moves it out of the prefix, a
// flipped byte in a branch page of wr/ that lands the seek past them, a
// damaged header of wr/ in its thread's page), a read must not return the
// checkpoint with fewer (or more, or other) pending writes and no error:
// a resumed run would run again the tasks whose results vanished. Each
// read returns exactly the writes that were written, or an error wrapping
// ErrCorrupt; Verify then reports a problem.
//
// The damage specs come first, the specs of what must not raise an alarm
// (every way the store itself moves, copies or rewrites pending writes)
// after them.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	"pgregory.net/rapid"
)

// w25 is one pending write as it must read back.
type w25 struct {
	task, path, channel, value string
	idx                        int
}

func (w w25) String() string {
	return fmt.Sprintf("(%q %q %d %q %d bytes)", w.path, w.task, w.idx, w.channel, len(w.value))
}

// cp25 is one checkpoint of the model: where it is and the pending writes
// it holds.
type cp25 struct {
	thread, ns, id, parent string
	step                   int
	writes                 map[[2]string]w25 // task id, idx -> write
}

func (c *cp25) cfg() Config {
	return Config{ThreadID: c.thread, CheckpointNS: c.ns, CheckpointID: c.id}
}
func (c *cp25) name() string {
	return fmt.Sprintf("%s/%q/%s", c.thread, c.ns, c.id)
}

// want is c's pending writes in the order reads return them
// (docs/langgraph-differences.md: task path, task id, idx).
func (c *cp25) want() []w25 {
	out := make([]w25, 0, len(c.writes))
	for _, w := range c.writes {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b w25) int {
		return cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.task, b.task), cmp.Compare(a.idx, b.idx))
	})
	return out
}

// model25 is every live checkpoint of a store and its pending writes.
type model25 struct {
	cps  []*cp25
	byID map[string]*cp25 // thread \x00 ns \x00 id
	// ids, when set, gives put the ids of new checkpoints (a fixed
	// sequence: the damage specs build the same file every run).
	ids func() string
}

func newModel25() *model25 { return &model25{byID: map[string]*cp25{}} }

func key25(thread, ns, id string) string { return thread + "\x00" + ns + "\x00" + id }

func (m *model25) add(c *cp25) {
	m.cps = append(m.cps, c)
	m.byID[key25(c.thread, c.ns, c.id)] = c
}

func (m *model25) get(thread, ns, id string) *cp25 { return m.byID[key25(thread, ns, id)] }

// isHead tells whether c is the newest checkpoint of its thread and
// namespace.
func (m *model25) isHead(c *cp25) bool {
	for _, o := range m.cps {
		if o.thread == c.thread && o.ns == c.ns && o.id > c.id {
			return false
		}
	}
	return true
}

// put stores a checkpoint of (thread, ns) whose parent is parent ("" for
// the first), with a small state, and adds it to the model.
func (m *model25) put(t tb25, s *Store, thread, ns, parent string, step int) *cp25 {
	t.Helper()
	id := ""
	if m.ids != nil {
		id = m.ids()
	}
	return m.putID(t, s, thread, ns, parent, id, step)
}

// putID is put of a checkpoint with the given id ("": the store's).
func (m *model25) putID(t tb25, s *Store, thread, ns, parent, id string, step int) *cp25 {
	t.Helper()
	cfg, err := put25(context.Background(), s, thread, ns, parent, id, step)
	if err != nil {
		t.Fatalf("Put %s/%q step %d: %v", thread, ns, step, err)
	}
	c := &cp25{thread: thread, ns: ns, id: cfg.CheckpointID, parent: parent, step: step, writes: map[[2]string]w25{}}
	m.add(c)
	return c
}

// put25 stores the checkpoint of step: its state is the step, its run id
// one of three per thread.
func put25(ctx context.Context, s *Store, thread, ns, parent, id string, step int) (Config, error) {
	v := fmt.Sprintf("s%d", step)
	return s.Put(ctx, Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent},
		Checkpoint{ID: id, ChannelValues: map[string]any{"step": step}, ChannelVersions: map[string]string{"step": v}},
		Metadata{"step": step, "run_id": run25(thread, step)}, map[string]string{"step": v})
}

func run25(thread string, step int) string { return fmt.Sprintf("run-%s-%d", thread, step%3) }

// tb25 is what the model's helpers need of a *testing.T or a *rapid.T.
type tb25 interface {
	Helper()
	Fatalf(format string, args ...any)
}

// putWrites stores one task's writes on c and applies them to the model
// as PutWrites does: a regular write keyed (task, idx) keeps the first
// value stored under that key, a special one ("__error__", ...) replaces it.
func (m *model25) putWrites(t tb25, s *Store, c *cp25, task, path string, writes []Write) {
	t.Helper()
	if err := s.PutWrites(context.Background(), c.cfg(), writes, task, path); err != nil {
		t.Fatalf("PutWrites %s task %q: %v", c.name(), task, err)
	}
	m.applyWrites(c, task, path, writes)
}

func (m *model25) applyWrites(c *cp25, task, path string, writes []Write) {
	for i, w := range writes {
		idx, special := writeIndex25(w.Channel, i)
		k := [2]string{task, fmt.Sprint(idx)}
		if _, ok := c.writes[k]; ok && !special {
			continue
		}
		c.writes[k] = w25{task: task, path: path, channel: w.Channel, value: json25(w.Value), idx: idx}
	}
}

// json25 is a value as JSON: how the spec compares a written value with
// the one read back (decoded generically).
func json25(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the spec writes only values JSON encodes
	}
	return string(b)
}

// writeIndex25 is saverkit.WriteIndex, written out: the spec states the
// indexes rather than asking the code under test.
func writeIndex25(channel string, pos int) (int, bool) {
	switch channel {
	case ChannelError:
		return -1, true
	case ChannelScheduled:
		return -2, true
	case ChannelInterrupt:
		return -3, true
	case ChannelResume:
		return -4, true
	}
	return pos, false
}

// text25 is deterministic filler of n bytes.
func text25(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

// randomWrites stores 0-5 pending writes from 1-3 tasks on c: regular
// channels and the special "__error__" (-1) and "__interrupt__" (-3),
// some tasks writing twice (a retried task: first wins for regular
// writes, the special ones are replaced). Values are 300-1,500 bytes, so a
// thread's wr/ bucket spans several leaf pages under a branch page.
func (m *model25) randomWrites(t tb25, s *Store, rng *rand.Rand, c *cp25) {
	t.Helper()
	n := rng.IntN(6)
	if n == 0 {
		return
	}
	tasks := 1 + rng.IntN(min(3, n))
	paths := []string{"", "~a", "~b|c"}
	per := make([]int, tasks)
	for i := range n {
		per[i%tasks]++
	}
	for ti, k := range per {
		task := fmt.Sprintf("task-%s-%d", text25(rng, 2+rng.IntN(8)), ti)
		path := paths[rng.IntN(len(paths))]
		writes := make([]Write, k)
		for i := range writes {
			ch := fmt.Sprintf("ch%d", rng.IntN(4))
			switch rng.IntN(6) {
			case 0:
				ch = ChannelError
			case 1:
				ch = ChannelInterrupt
			}
			writes[i] = Write{Channel: ch, Value: text25(rng, 300+rng.IntN(1200))}
		}
		m.putWrites(t, s, c, task, path, writes)
		if rng.IntN(4) == 0 { // retried: the same keys again, new values
			again := slices.Clone(writes)
			for i := range again {
				again[i].Value = text25(rng, 300+rng.IntN(1200))
			}
			m.putWrites(t, s, c, task, path, again)
		}
	}
}

// fill stores threads threads of steps checkpoints each (named prefix and
// a number; the even threads with their last 3 in namespace "sub"), each
// checkpoint with randomWrites.
func (m *model25) fill(t tb25, s *Store, rng *rand.Rand, prefix string, threads, steps int) {
	t.Helper()
	for th := range threads {
		thread := fmt.Sprintf("%s%02d", prefix, th)
		parent := map[string]string{}
		for step := range steps {
			ns := ""
			if th%2 == 0 && step >= steps-3 {
				ns = "sub"
			}
			c := m.put(t, s, thread, ns, parent[ns], step)
			parent[ns] = c.id
			m.randomWrites(t, s, rng, c)
		}
	}
}

const (
	spec25Threads = 30
	spec25Steps   = 10
)

// buildSpec25Store builds the store the damage specs damage (spec25Store,
// shared_fixture_test.go, shares it): 30 threads of 10 checkpoints (the
// even threads with their last 3 in namespace "sub"), each with 0-5
// pending writes. It returns the closed file's path.
func buildSpec25Store(t *testing.T, dir string) (string, *model25) {
	t.Helper()
	path := filepath.Join(dir, "writes.db")
	// NoWAL: one bbolt commit a write, so the pages are laid out the same
	// every run (the log's applier batches by timing).
	s, err := Open(path, Options{Durability: NoSync, NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel25()
	next := uint64(0)
	m.ids = func() string { // 2026-01-01, a millisecond apart
		next++
		var entropy [10]byte
		binary.BigEndian.PutUint64(entropy[2:], next)
		return ulid.MustNew(1767225600000+next, bytes.NewReader(entropy[:])).String()
	}
	m.fill(t, s, rand.New(rand.NewPCG(25, 25)), "th", spec25Threads, spec25Steps)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, m
}

// readCheck25 collects what the reads of one store returned that they
// must not: a wrong result with no error, an error that is not ErrCorrupt,
// a panic. changed counts the reads that did not return exactly the
// model (errors included), so Verify can be held to report something.
type readCheck25 struct {
	bad      []string
	changed  int
	verified bool      // Verify ran and found nothing wrong
	problems []Problem // or what it found
}

func (rc *readCheck25) badf(format string, args ...any) {
	rc.bad = append(rc.bad, fmt.Sprintf(format, args...))
}

// call runs one read, turning a panic into a finding.
func (rc *readCheck25) call(what string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			rc.badf("%s panicked: %v", what, p)
			rc.changed++
		}
	}()
	fn()
}

// errOK checks a read's error: nil is fine, ErrCorrupt is fine (and a
// change), anything else is a finding.
func (rc *readCheck25) errOK(what string, err error) bool {
	if err == nil {
		return true
	}
	rc.changed++
	if !errors.Is(err, ErrCorrupt) {
		rc.badf("%s: error %v, want nil or ErrCorrupt", what, err)
	}
	return false
}

// writesOf compares the pending writes a read returned with c's.
func (rc *readCheck25) writesOf(what string, c *cp25, got []PendingWrite) {
	want := c.want()
	if diff := diffWrites25(got, want); diff != "" {
		rc.changed++
		rc.badf("%s of %s returned %d of its %d pending writes, no error: %s", what, c.name(), len(got), len(want), diff)
	}
}

// diffWrites25 says how got differs from want ("" when it does not).
func diffWrites25(got []PendingWrite, want []w25) string {
	var g []w25
	for _, w := range got {
		v, err := w.Value.Value()
		if err != nil {
			return fmt.Sprintf("write %q %d does not decode: %v", w.TaskID, w.Idx, err)
		}
		g = append(g, w25{task: w.TaskID, path: w.TaskPath, channel: w.Channel, value: json25(v), idx: w.Idx})
	}
	if slices.Equal(g, want) {
		return ""
	}
	in := func(l []w25, w w25) bool { return slices.Contains(l, w) }
	var missing, extra []string
	for _, w := range want {
		if !in(g, w) {
			missing = append(missing, w.String())
		}
	}
	for _, w := range g {
		if !in(want, w) {
			extra = append(extra, w.String())
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return "same writes in another order"
	}
	return fmt.Sprintf("missing %v, not written %v", missing, extra)
}

// tuple checks one tuple read of c (GetTuple, Reader, a List item).
func (rc *readCheck25) tuple(what string, c *cp25, tp *Tuple) {
	if tp == nil {
		rc.changed++
		rc.badf("%s of %s: nil tuple and nil error", what, c.name())
		return
	}
	if tp.Config != c.cfg() {
		rc.changed++
		rc.badf("%s of %s returned checkpoint %+v", what, c.name(), tp.Config)
		return
	}
	// step < 0: a checkpoint of a file the model did not build, whose
	// state is checked elsewhere.
	var step int
	if c.step >= 0 {
		if err := tp.Decode("step", &step); err != nil || step != c.step {
			rc.changed++
			rc.badf("%s of %s: state step %d, %v; want %d", what, c.name(), step, err, c.step)
		}
	}
	rc.writesOf(what, c, tp.PendingWrites)
}

// list checks a List: every tuple it yields is exact, an error is
// ErrCorrupt, and a List that ends without error yields every checkpoint
// in want once.
func (rc *readCheck25) list(s *Store, m *model25, opts ListOptions, want int) {
	what := fmt.Sprintf("List(thread %q)", opts.ThreadID)
	rc.call(what, func() {
		seen := map[string]bool{}
		var lerr error
		for tp, err := range s.List(context.Background(), opts) {
			if err != nil {
				lerr = err
				break
			}
			c := m.get(tp.Config.ThreadID, tp.Config.CheckpointNS, tp.Config.CheckpointID)
			if c == nil {
				rc.changed++
				rc.badf("%s yields checkpoint %+v, never written", what, tp.Config)
				continue
			}
			if seen[c.name()] {
				rc.changed++
				rc.badf("%s yields %s twice", what, c.name())
			}
			seen[c.name()] = true
			rc.tuple(what, c, tp)
		}
		if rc.errOK(what, lerr) && len(seen) != want {
			rc.changed++
			rc.badf("%s yields %d of %d checkpoints and no error", what, len(seen), want)
		}
	})
}

// checkStore25 opens the store at path and reads every checkpoint of the
// model through every read path: GetTuple by id, GetTuple latest (the
// heads), a Reader, List of each thread and of every thread, Load, Latest
// and History (the simple API, root namespace: they carry no pending
// writes, so each gives the right checkpoint or ErrCorrupt). Then Verify:
// when any read did not return exactly the model, it must report a
// problem. When only is not empty, the damage lies in that thread's pages
// alone: the reads one checkpoint at a time are of that thread, and every
// other checkpoint is read by the List over every thread.
func checkStore25(t *testing.T, path string, opts Options, m *model25, only string) *readCheck25 {
	t.Helper()
	rc := &readCheck25{}
	var s *Store
	var err error
	rc.call("Open", func() { s, err = Open(path, opts) })
	if s == nil {
		if err == nil || !errors.Is(err, ErrCorrupt) {
			rc.badf("Open: %v, want a store or ErrCorrupt", err)
		}
		rc.changed++
		return rc // every read fails with ErrCorrupt
	}
	defer s.Close()
	return checkOpen25(s, m, only, false)
}

// checkOpen25 is checkStore25's reads, on an open store; Verify runs
// when a read changed, or always when verify is set.
func checkOpen25(s *Store, m *model25, only string, verify bool) *readCheck25 {
	ctx := context.Background()
	rc := &readCheck25{}
	heads := map[[2]string]*cp25{}
	threads := map[string][]*cp25{}
	rd := s.NewReader()
	for _, c := range m.cps {
		if only != "" && c.thread != only {
			continue
		}
		threads[c.thread] = append(threads[c.thread], c)
		if h := heads[[2]string{c.thread, c.ns}]; h == nil || c.id > h.id {
			heads[[2]string{c.thread, c.ns}] = c
		}
		rc.call("GetTuple "+c.name(), func() {
			tp, err := s.GetTuple(ctx, c.cfg())
			if rc.errOK("GetTuple "+c.name(), err) {
				rc.tuple("GetTuple", c, tp)
			}
		})
		rc.call("Reader.GetTuple "+c.name(), func() {
			tp, err := rd.GetTuple(ctx, c.cfg())
			if rc.errOK("Reader.GetTuple "+c.name(), err) {
				rc.tuple("Reader.GetTuple", c, tp)
			}
		})
		if c.ns == "" {
			rc.call("Load "+c.name(), func() {
				sn, err := s.Load(ctx, c.thread, c.id)
				if rc.errOK("Load "+c.name(), err) && (sn.CheckpointID != c.id || sn.ParentID != c.parent) {
					rc.changed++
					rc.badf("Load %s returned %s (parent %s)", c.name(), sn.CheckpointID, sn.ParentID)
				}
			})
		}
	}
	for k, c := range heads {
		rc.call("GetTuple latest "+c.name(), func() {
			tp, err := s.GetTuple(ctx, Config{ThreadID: k[0], CheckpointNS: k[1]})
			if rc.errOK("GetTuple latest "+c.name(), err) {
				rc.tuple("GetTuple latest", c, tp)
			}
		})
		rc.call("Reader latest "+c.name(), func() {
			tp, err := rd.GetTuple(ctx, Config{ThreadID: k[0], CheckpointNS: k[1]})
			if rc.errOK("Reader latest "+c.name(), err) {
				rc.tuple("Reader latest", c, tp)
			}
		})
		if k[1] != "" {
			continue
		}
		rc.call("Latest "+c.name(), func() {
			sn, err := s.Latest(ctx, c.thread)
			if rc.errOK("Latest "+c.name(), err) && sn.CheckpointID != c.id {
				rc.changed++
				rc.badf("Latest of %s returned %s", c.thread, sn.CheckpointID)
			}
		})
		rc.call("History "+c.thread, func() {
			want := c
			for sn, err := range s.History(ctx, c.thread, ListOptions{}) {
				if !rc.errOK("History "+c.thread, err) {
					break
				}
				if want == nil || sn.CheckpointID != want.id {
					rc.changed++
					rc.badf("History of %s yields %s, want %v", c.thread, sn.CheckpointID, want)
					break
				}
				want = m.get(c.thread, "", want.parent)
			}
		})
	}
	for thread, cps := range threads {
		rc.list(s, m, ListOptions{ThreadID: thread}, len(cps))
	}
	rc.list(s, m, ListOptions{}, len(m.cps))
	if !verify && rc.changed == 0 {
		return rc // Verify is held to nothing when every read was exact
	}
	rc.call("Verify", func() {
		rep, err := s.Verify(ctx, VerifyOptions{})
		rc.verified = err == nil && rep.OK()
		if !rc.verified && err == nil {
			rc.problems = rep.Problems
		}
		switch {
		case err != nil && !errors.Is(err, ErrCorrupt):
			rc.badf("Verify: %v", err)
		case rc.changed > 0 && err == nil && rep.OK():
			rc.badf("Verify finds nothing wrong, but %d reads did not return what was written", rc.changed)
		}
	})
	return rc
}

// report25 fails t with what rc found, the first few findings in full.
func report25(t *testing.T, what string, rc *readCheck25) {
	t.Helper()
	if len(rc.bad) == 0 {
		return
	}
	show := slices.Clone(rc.bad[:min(3, len(rc.bad))])
	if last := rc.bad[len(rc.bad)-1]; len(rc.bad) > 3 && strings.HasPrefix(last, "Verify") {
		show = append(show, last)
	}
	t.Errorf("%s: %d wrong reads (%d reads changed), e.g.:\n  %s", what, len(rc.bad), rc.changed, strings.Join(show, "\n  "))
}

// damaged copies the file at src to a new path and lets damage change it.
func damaged25(t *testing.T, src string, damage func(path string)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.db")
	copyFileIn(t, src, path)
	damage(path)
	return path
}

// TestSpec25DeletedWriteRecord: one pending write deleted from a closed
// file with bbolt (a tool, or damage that leaves the pages consistent):
// no read may return its checkpoint without it and no error.
func TestSpec25DeletedWriteRecord(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t)
	rng := rand.New(rand.NewPCG(25, 1))
	var withWrites []*cp25
	for _, c := range m.cps {
		if len(c.writes) > 0 {
			withWrites = append(withWrites, c)
		}
	}
	for round := range 6 {
		c := withWrites[rng.IntN(len(withWrites))]
		if round == 0 { // a head: what a resumed run reads
			for _, h := range withWrites {
				if m.isHead(h) {
					c = h
					break
				}
			}
		}
		want := c.want()
		w := want[rng.IntN(len(want))]
		t.Run(fmt.Sprintf("%s_task=%s_idx=%d", c.id, w.task, w.idx), func(t *testing.T) {
			path := damaged25(t, src, func(path string) {
				editClosedFile(t, path, func(tx *bolt.Tx) error {
					id, err := parseID("id", c.id)
					if err != nil {
						return err
					}
					b := tx.Bucket(bucketThreads).Bucket([]byte(c.thread)).Bucket(bucketWrites)
					k := writeKey(c.ns, id, w.task, w.idx)
					if b.Get(k) == nil {
						t.Fatalf("no write stored under %x", k)
					}
					return b.Delete(k)
				})
			})
			for _, ro := range []bool{true, false} {
				rc := checkStore25(t, path, Options{ReadOnly: ro}, m, "")
				report25(t, fmt.Sprintf("write %v of %s deleted (read-only %v)", w, c.name(), ro), rc)
			}
		})
	}
}

// TestSpec25DeletedAllWritesOfACheckpoint: every pending write of one
// checkpoint deleted: its reads must not return it with none.
func TestSpec25DeletedAllWritesOfACheckpoint(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t)
	rng := rand.New(rand.NewPCG(25, 2))
	var chosen []*cp25
	for _, ns := range []string{"", "sub"} { // a head of each namespace, then others
		for _, c := range m.cps {
			if c.ns == ns && len(c.writes) >= 2 && m.isHead(c) {
				chosen = append(chosen, c)
				break
			}
		}
	}
	for len(chosen) < 5 {
		if c := m.cps[rng.IntN(len(m.cps))]; len(c.writes) > 0 && !slices.Contains(chosen, c) {
			chosen = append(chosen, c)
		}
	}
	for _, c := range chosen {
		t.Run(c.thread+"_"+c.id, func(t *testing.T) {
			path := damaged25(t, src, func(path string) {
				editClosedFile(t, path, func(tx *bolt.Tx) error {
					id, err := parseID("id", c.id)
					if err != nil {
						return err
					}
					b := tx.Bucket(bucketThreads).Bucket([]byte(c.thread)).Bucket(bucketWrites)
					prefix := checkpointKey(c.ns, id)
					var keys [][]byte
					cur := b.Cursor()
					for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
						keys = append(keys, bytes.Clone(k))
					}
					if len(keys) != len(c.writes) {
						t.Fatalf("%s: %d writes stored, model has %d", c.name(), len(keys), len(c.writes))
					}
					for _, k := range keys {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
					return nil
				})
			})
			for _, ro := range []bool{true, false} {
				rc := checkStore25(t, path, Options{ReadOnly: ro}, m, "")
				report25(t, fmt.Sprintf("all %d writes of %s deleted (read-only %v)", len(c.writes), c.name(), ro), rc)
			}
		})
	}
}

// bolt25 is what the page specs need of a closed file: its page size and,
// per thread, the pages of its wr/ bucket and where its header is.
type bolt25 struct {
	pageSize int
	threads  map[string]*wrPages25
}

type wrPages25 struct {
	root     uint64
	branches []uint64
	leaves   []uint64
	header   int64 // file offset of wr/'s header (root pgid, sequence) in the thread's page
}

// readPages25 finds, from the bucket roots bbolt reports, every page of
// each thread's wr/ bucket, parsing bbolt's page layout (a 16-byte header:
// id, flags, count, overflow; then 16-byte elements) from the file.
func readPages25(t *testing.T, path string) *bolt25 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	out := &bolt25{pageSize: db.Info().PageSize, threads: map[string]*wrPages25{}}
	roots := map[string][2]uint64{} // thread -> thread bucket root, wr root
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).ForEachBucket(func(name []byte) error {
			tb := tx.Bucket(bucketThreads).Bucket(name)
			roots[string(name)] = [2]uint64{uint64(tb.Root()), uint64(tb.Bucket(bucketWrites).Root())}
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := out.pageSize
	page := func(id uint64) (flags uint16, count int, off int) {
		off = int(id) * ps
		return binary.LittleEndian.Uint16(file[off+8:]), int(binary.LittleEndian.Uint16(file[off+10:])), off
	}
	for thread, r := range roots {
		wp := &wrPages25{root: r[1]}
		if r[1] == 0 {
			t.Fatalf("thread %s: wr/ is inline, the store holds too few writes", thread)
		}
		var walk func(id uint64)
		walk = func(id uint64) {
			flags, count, off := page(id)
			switch flags {
			case 0x01:
				wp.branches = append(wp.branches, id)
				for i := range count {
					e := off + 16 + 16*i
					walk(binary.LittleEndian.Uint64(file[e+8:]))
				}
			case 0x02:
				wp.leaves = append(wp.leaves, id)
			default:
				t.Fatalf("thread %s: wr/ page %d has flags %#x", thread, id, flags)
			}
		}
		walk(r[1])
		// wr/'s header: the value of key "wr" in the thread bucket's leaf.
		var find func(id uint64) bool
		find = func(id uint64) bool {
			flags, count, off := page(id)
			for i := range count {
				e := off + 16 + 16*i
				if flags == 0x01 {
					if find(binary.LittleEndian.Uint64(file[e+8:])) {
						return true
					}
					continue
				}
				pos, ksize := int(binary.LittleEndian.Uint32(file[e+4:])), int(binary.LittleEndian.Uint32(file[e+8:]))
				if string(file[e+pos:e+pos+ksize]) == string(bucketWrites) {
					wp.header = int64(e + pos + ksize)
					if got := binary.LittleEndian.Uint64(file[wp.header:]); got != r[1] {
						t.Fatalf("thread %s: wr/ header at %d names root %d, bbolt says %d", thread, wp.header, got, r[1])
					}
					return true
				}
			}
			return false
		}
		if !find(r[0]) {
			t.Fatalf("thread %s: no wr/ header found", thread)
		}
		out.threads[thread] = wp
	}
	return out
}

// keyBytes25 returns the file offset of every key byte of the elements of
// page id (a leaf or a branch page), and for a branch page of every byte
// of each element's child pgid. It reads the page (with its overflow
// pages), not the file: the flip tests call it for every page they flip,
// and under -race each whole-file read cost the detector's shadow of the
// file (650 MB read for TestSpec25FlippedByteInWriteKeys).
func keyBytes25(t *testing.T, path string, ps int, id uint64) (keys, pgids []int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := int64(id) * int64(ps)
	var hdr [16]byte
	if _, err := f.ReadAt(hdr[:], base); err != nil {
		t.Fatal(err)
	}
	overflow := int64(binary.LittleEndian.Uint32(hdr[12:]))
	page := make([]byte, (overflow+1)*int64(ps))
	if _, err := f.ReadAt(page, base); err != nil {
		t.Fatal(err)
	}
	flags, count := binary.LittleEndian.Uint16(page[8:]), int(binary.LittleEndian.Uint16(page[10:]))
	for i := range count {
		e := 16 + 16*i
		var pos, ksize int
		if flags == 0x01 {
			pos, ksize = int(binary.LittleEndian.Uint32(page[e:])), int(binary.LittleEndian.Uint32(page[e+4:]))
			for j := range 8 {
				pgids = append(pgids, base+int64(e+8+j))
			}
		} else {
			pos, ksize = int(binary.LittleEndian.Uint32(page[e+4:])), int(binary.LittleEndian.Uint32(page[e+8:]))
		}
		for j := range ksize {
			keys = append(keys, base+int64(e+pos+j))
		}
	}
	return keys, pgids
}

// flipAt25 xors the byte at off of the file at path with mask.
func flipAt25(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// putUint64At25 writes v little-endian at off of the file at path.
func putUint64At25(t *testing.T, path string, off int64, v uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(binary.LittleEndian.AppendUint64(nil, v), off); err != nil {
		t.Fatal(err)
	}
}

// TestSpec25FlippedByteInWriteKeys flips one byte (a random non-zero mask)
// at 100 random positions inside the keys of wr/ leaf pages, each on a
// fresh copy (25 with -short). A flip in the namespace or checkpoint id
// moves the write out of its checkpoint's prefix; the checkpoint must not
// read back without it.
func TestSpec25FlippedByteInWriteKeys(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t)
	pages := readPages25(t, src)
	type pos struct {
		thread string
		off    int64
	}
	var all []pos
	for _, th := range slices.Sorted(maps.Keys(pages.threads)) {
		for _, id := range pages.threads[th].leaves {
			keys, _ := keyBytes25(t, src, pages.pageSize, id)
			for _, off := range keys {
				all = append(all, pos{th, off})
			}
		}
	}
	rng := rand.New(rand.NewPCG(25, 3))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	failed, flipped := 0, 0
	// Under -race every 8th of the 100 (raceSample: 12 or 13, other ones
	// each run; 84 s for 100 in a loaded CI run, 105 s for 25 at load
	// 15-20): one damaged copy read at a time; CI's plain command flips
	// all 100. On the code before the write tallies (367b9dd), 57 of the
	// 100 flips read back wrong, 17 of the first 25.
	n := 100
	if testing.Short() {
		n = 25
	}
	keep := raceSample(t, 8)
	for i, at := range all[:n] {
		// The mask is drawn for every position, kept or not: a position
		// gets the same mask in the sample as in the whole sweep.
		mask := byte(1 + rng.IntN(255))
		if !keep(i) {
			continue
		}
		flipped++
		if flipCase25(t, src, m, "leaf key", at.thread, at.off, mask) {
			failed++
		}
	}
	t.Logf("%d of %d flips read back wrong", failed, flipped)
}

// flipCase25 runs one flip as a subtest: the byte at off of a copy of src
// XORed with mask, then every read of thread's checkpoints against m
// (read-only); it reports whether a read came back wrong.
func flipCase25(t *testing.T, src string, m *model25, what, thread string, off int64, mask byte) (wrong bool) {
	t.Helper()
	t.Run(fmt.Sprintf("%s,off=%d,mask=%#x", thread, off, mask), func(t *testing.T) {
		path := damaged25(t, src, func(path string) { flipAt25(t, path, off, mask) })
		rc := checkStore25(t, path, Options{ReadOnly: true}, m, thread)
		report25(t, fmt.Sprintf("%s byte of %s at %d ^ %#x", what, thread, off, mask), rc)
		wrong = len(rc.bad) > 0
	})
	return wrong
}

// TestSpec25FlippedByteInWriteBranch flips, each on a fresh copy, every
// byte of every element key and child pgid of the wr/ branch pages of a
// thread with a "sub" namespace (every 7th with -short; under -race every
// 15th, from an offset drawn per run (raceSample), and CI's plain command
// flips every one; CKPT_RACE_FULL=1 flips every one under -race too). A
// changed separator key can land a checkpoint's seek past its first
// writes; a changed pgid hands the scan another page.
//
// The strides are prime to a pgid's 8 bytes, so the sample flips every
// byte position of the pgids and the keys: on the code before the write
// tallies (367b9dd), 95 of the 631 flips read back wrong, 14 of them in
// the low bytes of pgids; every 8th position (79 flips) met 9 of the 95
// and no pgid, every 5th (127) meets 19, 3 of them pgids, every 7th (91)
// 11, 2 of them pgids. All 631 took 378 s of a loaded CI run under -race,
// every 5th 60 s, every 7th 106 s at load 15-20; without -race all 631
// cost about what every 7th did under it.
func TestSpec25FlippedByteInWriteBranch(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t)
	pages := readPages25(t, src)
	rng := rand.New(rand.NewPCG(25, 4))
	failed, total := 0, 0
	for _, thread := range []string{"th04"} {
		wp := pages.threads[thread]
		if len(wp.branches) == 0 {
			t.Fatalf("thread %s: wr/ has no branch page (%d leaves)", thread, len(wp.leaves))
		}
		t.Logf("thread %s: wr/ has %d branch and %d leaf pages", thread, len(wp.branches), len(wp.leaves))
		var offs []int64
		for _, id := range wp.branches {
			keys, pgids := keyBytes25(t, src, pages.pageSize, id)
			offs = append(offs, keys...)
			offs = append(offs, pgids...)
		}
		keep := func(i int) bool { return i%7 == 0 }
		if !testing.Short() {
			keep = raceSample(t, 15)
		}
		for i, off := range offs {
			// Drawn for every position, kept or not: a position gets the
			// same mask in a sample as in the whole sweep.
			mask := byte(1 + rng.IntN(255))
			if !keep(i) {
				continue
			}
			total++
			if flipCase25(t, src, m, "branch", thread, off, mask) {
				failed++
			}
		}
	}
	t.Logf("%d of %d flips read back wrong", failed, total)
}

// TestSpec25DamagedWriteBucketHeader damages wr/'s header in its thread's
// page: its root pgid pointed at each other page of the bucket, at
// another thread's wr/ pages, past the end of the file and at 0 (an inline
// bucket), and each of its 16 bytes flipped.
func TestSpec25DamagedWriteBucketHeader(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t)
	pages := readPages25(t, src)
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(25, 5))
	type damage struct {
		name, thread string
		fn           func(path string)
	}
	var ds []damage
	for _, thread := range []string{"th02", "th09"} {
		wp := pages.threads[thread]
		other := pages.threads["th13"]
		var targets []uint64
		for _, id := range append(slices.Clone(wp.branches), wp.leaves...) {
			if id != wp.root {
				targets = append(targets, id)
			}
		}
		targets = append(targets, other.root, other.leaves[0], 0, uint64(st.Size())/uint64(pages.pageSize)+3)
		for _, to := range targets {
			ds = append(ds, damage{fmt.Sprintf("%s,root=%d", thread, to), thread, func(path string) { putUint64At25(t, path, wp.header, to) }})
		}
		for i := range int64(16) {
			mask := byte(1 + rng.IntN(255))
			ds = append(ds, damage{fmt.Sprintf("%s,byte=%d,mask=%#x", thread, i, mask), thread, func(path string) { flipAt25(t, path, wp.header+i, mask) }})
		}
	}
	failed, ran := 0, 0
	// Under -race every 4th damage (single-goroutine: one read-only store
	// open at a time, so the detector meets only the store's own
	// goroutines, which the sample meets too); CI's plain command runs all.
	keep := raceSample(t, 4)
	for i, d := range ds {
		if !keep(i) {
			continue
		}
		ran++
		t.Run(d.name, func(t *testing.T) {
			path := damaged25(t, src, d.fn)
			rc := checkStore25(t, path, Options{ReadOnly: true}, m, d.thread)
			report25(t, "wr/ header "+d.name, rc)
			if len(rc.bad) > 0 {
				failed++
			}
		})
	}
	t.Logf("%d of %d header damages read back wrong (%d damages in all)", failed, ran, len(ds))
}

// ---- What must not raise an alarm ----
//
// Every way the store itself writes, moves, copies or rewrites pending
// writes reads back exactly, with no error, and Verify finds nothing wrong.

// exact25 checks that every checkpoint of the model, and nothing else,
// reads back exactly through every read path, and that Verify is clean.
func exact25(t *testing.T, what string, s *Store, m *model25) {
	t.Helper()
	rc := checkOpen25(s, m, "", true)
	if len(rc.bad) > 0 || rc.changed > 0 {
		report25(t, what, rc)
		t.FailNow()
	}
	if !rc.verified {
		t.Fatalf("%s: Verify: %v", what, rc.problems)
	}
}

// exactFile25 is exact25 on the closed store at path, opened with opts.
func exactFile25(t *testing.T, what, path string, opts Options, m *model25) {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	defer s.Close()
	exact25(t, what, s, m)
}

// newSpec25 opens a new store in a temporary directory with opts and fills
// it with threads threads of steps checkpoints.
func newSpec25(t *testing.T, opts Options, seed uint64, threads, steps int) (*Store, string, *model25) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := newModel25()
	m.fill(t, s, rand.New(rand.NewPCG(25, seed)), "th", threads, steps)
	return s, path, m
}

// keep removes from the model every checkpoint keep refuses; rank is the
// checkpoint's place in its thread and namespace, 0 for the newest.
func (m *model25) keep(keep func(c *cp25, rank int) bool) {
	rank := map[*cp25]int{}
	for _, c := range m.cps {
		for _, o := range m.cps {
			if o.thread == c.thread && o.ns == c.ns && o.id > c.id {
				rank[c]++
			}
		}
	}
	old := m.cps
	m.cps, m.byID = nil, map[string]*cp25{}
	for _, c := range old {
		if keep(c, rank[c]) {
			m.add(c)
		}
	}
}

// copyThread is CopyThread in the model: dst's checkpoints replaced by
// copies of src's, with their own pending writes.
func (m *model25) copyThread(src, dst string) {
	m.keep(func(c *cp25, _ int) bool { return c.thread != dst })
	for _, c := range slices.Clone(m.cps) {
		if c.thread == src {
			d := *c
			d.thread, d.writes = dst, maps.Clone(c.writes)
			m.add(&d)
		}
	}
}

func (m *model25) has(thread string) bool {
	return slices.ContainsFunc(m.cps, func(c *cp25) bool { return c.thread == thread })
}

// TestSpec25RepeatedPutWritesReadBack: a task that writes again (a retry)
// keeps the first value of each regular write and replaces its special
// ones ("__error__", "__interrupt__", with the task path of the new call),
// a new index is added, other tasks are untouched; the reads say exactly
// that, before and after a reopen, and Verify is clean.
func TestSpec25RepeatedPutWritesReadBack(t *testing.T) {
	t.Parallel()
	s, path, m := newSpec25(t, Options{Durability: NoSync}, 10, 2, 4)
	c := m.cps[1]
	m.putWrites(t, s, c, "retry", "p1", []Write{{Channel: "a", Value: "a1"}, {Channel: ChannelError, Value: "e1"}, {Channel: "b", Value: 1}})
	m.putWrites(t, s, c, "other", "", []Write{{Channel: ChannelInterrupt, Value: map[string]any{"ask": "x"}}})
	exact25(t, "after the first writes", s, m)
	m.putWrites(t, s, c, "retry", "p2", []Write{{Channel: "a", Value: "a2"}, {Channel: ChannelError, Value: "e2"}, {Channel: "b", Value: 2}, {Channel: "c", Value: nil}})
	m.putWrites(t, s, c, "retry", "p3", []Write{{Channel: ChannelInterrupt, Value: "i3"}, {Channel: ChannelError, Value: "e3"}})
	m.putWrites(t, s, c, "other", "", []Write{{Channel: ChannelInterrupt, Value: "replaced"}})
	if w := c.writes[[2]string{"retry", "0"}]; w.value != `"a1"` || w.path != "p1" {
		t.Fatalf("model: regular write %v, want the first", w)
	}
	if w := c.writes[[2]string{"retry", "-1"}]; w.value != `"e3"` || w.path != "p3" {
		t.Fatalf("model: special write %v, want the last", w)
	}
	exact25(t, "after the retries", s, m)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	exactFile25(t, "reopened", path, Options{}, m)
	exactFile25(t, "reopened read-only", path, Options{ReadOnly: true}, m)
}

// TestSpec25ConcurrentTasksAndChildren: many tasks write to a step's
// checkpoint (and late, to its parent) while the next checkpoints are
// put; every write acknowledged reads back.
func TestSpec25ConcurrentTasksAndChildren(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{{}, {NoWAL: true}, {Durability: NoSync}} {
		t.Run(fmt.Sprintf("nowal=%v,durability=%v", opts.NoWAL, opts.Durability), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			m := newModel25()
			var mu sync.Mutex
			var wg sync.WaitGroup
			errs := make(chan error, 1000)
			for _, thread := range []string{"a", "b"} {
				var prev *cp25
				for step := range 8 {
					parent := ""
					if prev != nil {
						parent = prev.id
					}
					mu.Lock()
					c := m.put(t, s, thread, "", parent, step)
					mu.Unlock()
					targets := []*cp25{c, prev} // prev changes while they write
					for task := range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for _, target := range targets {
								if target == nil {
									continue
								}
								name := fmt.Sprintf("task-%d-of-%s", task, c.id)
								writes := []Write{{Channel: "out", Value: fmt.Sprintf("%s %d", c.id, task)}, {Channel: "n", Value: task}}
								if task == 3 {
									writes = append(writes, Write{Channel: ChannelInterrupt, Value: "stop"})
								}
								if err := s.PutWrites(context.Background(), target.cfg(), writes, name, fmt.Sprint(step)); err != nil {
									errs <- err
									return
								}
								mu.Lock()
								m.applyWrites(target, name, fmt.Sprint(step), writes)
								mu.Unlock()
							}
						}()
					}
					prev = c
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			exact25(t, "after concurrent writes", s, m)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			exactFile25(t, "reopened", path, Options{ReadOnly: true}, m)
		})
	}
}

// TestSpec25RetentionKeepsWritesExact: GC by KeepLast and by MaxAge,
// Prune (keep-latest and delete) and DeleteForRuns delete checkpoints
// with their pending writes; what they keep reads back exactly.
func TestSpec25RetentionKeepsWritesExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("GC KeepLast", func(t *testing.T) {
		t.Parallel()
		s, path, m := newSpec25(t, Options{Durability: NoSync}, 20, 6, 8)
		if _, err := s.GC(ctx, Policy{KeepLast: 3}); err != nil {
			t.Fatal(err)
		}
		m.keep(func(_ *cp25, rank int) bool { return rank < 3 })
		exact25(t, "after GC KeepLast 3", s, m)
		// Writes on what is left, then GC again.
		rng := rand.New(rand.NewPCG(25, 21))
		for _, c := range m.cps[:5] {
			m.randomWrites(t, s, rng, c)
		}
		if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
			t.Fatal(err)
		}
		m.keep(func(_ *cp25, rank int) bool { return rank < 1 })
		exact25(t, "after GC KeepLast 1", s, m)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		exactFile25(t, "reopened", path, Options{}, m)
	})
	t.Run("GC MaxAge", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		m := newModel25()
		rng := rand.New(rand.NewPCG(25, 22))
		now := time.Now()
		for _, thread := range []string{"old", "mixed", "new"} {
			parent := ""
			for step := range 6 {
				// "mixed": 10.5 h to 5.5 h old, none near the 7 h cut.
				age := map[string]time.Duration{"old": 100 * time.Hour, "mixed": time.Duration(10-step)*time.Hour + 30*time.Minute, "new": 0}[thread]
				id := ulid.MustNew(ulid.Timestamp(now.Add(-age).Add(time.Duration(step)*time.Millisecond)), ulid.DefaultEntropy()).String()
				c := m.putID(t, s, thread, "", parent, id, step)
				parent = c.id
				m.randomWrites(t, s, rng, c)
			}
		}
		if _, err := s.GC(ctx, Policy{MaxAge: 7 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		cut := now.Add(-7 * time.Hour)
		m.keep(func(c *cp25, rank int) bool {
			return rank == 0 || ulid.Time(ulid.MustParse(c.id).Time()).After(cut)
		})
		if len(m.cps) == 18 || !m.has("old") {
			t.Fatalf("model: MaxAge keeps %d of 18", len(m.cps))
		}
		exact25(t, "after GC MaxAge", s, m)
	})
	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s, _, m := newSpec25(t, Options{Durability: NoSync}, 23, 6, 7)
		if err := s.Prune(ctx, []string{"th00", "th01"}, PruneKeepLatest); err != nil {
			t.Fatal(err)
		}
		m.keep(func(c *cp25, rank int) bool { return rank == 0 || c.thread != "th00" && c.thread != "th01" })
		exact25(t, "after Prune keep-latest", s, m)
		if err := s.Prune(ctx, []string{"th02", "nothing"}, PruneDelete); err != nil {
			t.Fatal(err)
		}
		m.keep(func(c *cp25, _ int) bool { return c.thread != "th02" })
		exact25(t, "after Prune delete", s, m)
	})
	t.Run("DeleteForRuns", func(t *testing.T) {
		t.Parallel()
		s, _, m := newSpec25(t, Options{Durability: NoSync}, 24, 5, 9)
		runs := []string{run25("th00", 1), run25("th03", 0), run25("th04", 2)}
		if err := s.DeleteForRuns(ctx, runs); err != nil {
			t.Fatal(err)
		}
		m.keep(func(c *cp25, _ int) bool { return !slices.Contains(runs, run25(c.thread, c.step)) })
		exact25(t, "after DeleteForRuns", s, m)
	})
}

// TestSpec25CopiedThreadWritesExact: CopyThread to a new thread and over
// an existing one (Replace) copies every pending write; writes added to
// the copy or the source afterwards stay where they were written.
func TestSpec25CopiedThreadWritesExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, opts := range []Options{{Durability: NoSync}, {Durability: NoSync, Encryption: &Encryption{Keys: []Key{testKey(1, 9)}}}} {
		t.Run(fmt.Sprintf("encrypted=%v", opts.Encryption != nil), func(t *testing.T) {
			t.Parallel()
			s, path, m := newSpec25(t, opts, 30, 4, 8)
			if err := s.CopyThread(ctx, "th00", "copy", CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			m.copyThread("th00", "copy")
			if err := s.CopyThread(ctx, "th01", "th02", CopyOptions{}); !errors.Is(err, ErrExists) {
				t.Fatalf("CopyThread over a thread without Replace = %v, want ErrExists", err)
			}
			if err := s.CopyThread(ctx, "th01", "th02", CopyOptions{Replace: true}); err != nil {
				t.Fatal(err)
			}
			m.copyThread("th01", "th02")
			exact25(t, "after the copies", s, m)
			rng := rand.New(rand.NewPCG(25, 31))
			for _, c := range m.cps {
				if c.thread == "copy" || c.thread == "th01" {
					m.randomWrites(t, s, rng, c)
				}
			}
			exact25(t, "after writes on copy and source", s, m)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			exactFile25(t, "reopened", path, opts, m)
		})
	}
}

// TestSpec25MovedFileWritesExact: Export then Import into a new file,
// Compact, Backup: the new file holds every pending write exactly.
func TestSpec25MovedFileWritesExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path, m := newSpec25(t, Options{Durability: NoSync}, 40, 6, 8)
	dir := t.TempDir()
	t.Run("Export Import", func(t *testing.T) {
		var dump bytes.Buffer
		if _, err := s.Export(ctx, &dump, ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dir, "imported.db")
		if _, err := ImportFile(ctx, to, &dump, Options{}, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		exactFile25(t, "imported", to, Options{ReadOnly: true}, m)
		exactFile25(t, "imported, read-write", to, Options{}, m)
	})
	t.Run("Backup", func(t *testing.T) {
		to := filepath.Join(dir, "backup.db")
		if err := s.BackupFile(ctx, to); err != nil {
			t.Fatal(err)
		}
		exactFile25(t, "backup", to, Options{ReadOnly: true}, m)
		var buf bytes.Buffer
		if err := s.Backup(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		to2 := filepath.Join(dir, "streamed.db")
		if err := os.WriteFile(to2, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		exactFile25(t, "streamed backup", to2, Options{}, m)
	})
	t.Run("Compact", func(t *testing.T) {
		if _, err := s.GC(ctx, Policy{KeepLast: 5}); err != nil {
			t.Fatal(err)
		}
		m.keep(func(_ *cp25, rank int) bool { return rank < 5 })
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		exact25(t, "compacted", s, m)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		exactFile25(t, "compacted, reopened", path, Options{}, m)
	})
}

// TestSpec25RekeyedWritesExact: pending writes written plain, under key 1,
// then under keys 2 and 1, re-sealed by Rekey, read back exactly with key
// 2 alone.
func TestSpec25RekeyedWritesExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	m := newModel25()
	rng := rand.New(rand.NewPCG(25, 50))
	k1, k2 := testKey(1, 1), testKey(2, 2)
	for i, keys := range [][]Key{nil, {k1}, {k2, k1}} {
		opts := Options{Durability: NoSync}
		if keys != nil {
			opts.Encryption = &Encryption{Keys: keys}
		}
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		m.fill(t, s, rng, fmt.Sprintf("k%d-", i), 3, 5)
		for _, c := range m.cps[:4] { // later writes on older checkpoints
			m.randomWrites(t, s, rng, c)
		}
		if i == 2 {
			exact25(t, "before Rekey", s, m)
			if st, err := s.Rekey(ctx); err != nil || st.Resealed == 0 {
				t.Fatalf("Rekey: %+v, %v", st, err)
			}
			exact25(t, "after Rekey", s, m)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	exactFile25(t, "key 2 alone", path, Options{Encryption: &Encryption{Keys: []Key{k2}}}, m)
}

// TestSpec25AsyncFlushedWritesExact: Async writes, then Flush: the writes
// read back exactly, in the open store and after a reopen.
func TestSpec25AsyncFlushedWritesExact(t *testing.T) {
	t.Parallel()
	s, path, m := newSpec25(t, Options{Durability: Async}, 60, 5, 8)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	exact25(t, "flushed", s, m)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	exactFile25(t, "reopened", path, Options{}, m)
}

// modelOfStore25 is the model of what s holds: for a file the model did
// not write (an older format's), once its reads were checked against what
// that file is known to hold.
func modelOfStore25(t *testing.T, s *Store) *model25 {
	t.Helper()
	m := newModel25()
	for tp, err := range s.List(context.Background(), ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		c := &cp25{thread: tp.Config.ThreadID, ns: tp.Config.CheckpointNS, id: tp.Config.CheckpointID, step: -1, writes: map[[2]string]w25{}}
		if tp.ParentConfig != nil {
			c.parent = tp.ParentConfig.CheckpointID
		}
		for _, w := range tp.PendingWrites {
			v, err := w.Value.Value()
			if err != nil {
				t.Fatal(err)
			}
			c.writes[[2]string{w.TaskID, fmt.Sprint(w.Idx)}] = w25{task: w.TaskID, path: w.TaskPath, channel: w.Channel, value: json25(v), idx: w.Idx}
		}
		m.add(c)
	}
	return m
}

// TestSpec25OlderFormatsWritesExact: the files of older formats (the
// format-2 file in testdata, files of formats 3, 4 and 5) read back their
// pending writes exactly read-only, and read-write (upgraded in place);
// writes added after the upgrade (a retry, a special write replaced, a
// new task) read back with them, and Verify is clean throughout.
func TestSpec25OlderFormatsWritesExact(t *testing.T) {
	t.Parallel()
	for _, from := range []uint32{2, 3, 4, 5} {
		t.Run(fmt.Sprintf("format %d", from), func(t *testing.T) {
			t.Parallel()
			var path string
			var want []string
			if from == 2 {
				path, want = copyFormat2(t), format2State(t)
			} else {
				path, want = formatFile(t, from)
			}
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := storeState(t, ro); !slices.Equal(got, want) {
				ro.Close()
				t.Fatalf("read-only: %d checkpoints read back differently from the %d written", len(got), len(want))
			}
			m := modelOfStore25(t, ro)
			exact25(t, "read-only", ro, m)
			if err := ro.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := storeState(t, s); !slices.Equal(got, want) {
				t.Fatalf("read-write: %d checkpoints read back differently from the %d written", len(got), len(want))
			}
			exact25(t, "upgraded", s, m)
			n := 0
			for _, c := range m.cps {
				for _, w := range c.want() {
					if n == 6 {
						break
					}
					n++
					// The same task again: its regular write stays, a
					// special one is replaced; and a new task.
					m.putWrites(t, s, c, w.task, "again", []Write{{Channel: w.channel, Value: "again"}, {Channel: ChannelError, Value: "err again"}})
					m.putWrites(t, s, c, "new-task", "", []Write{{Channel: "x", Value: n}})
				}
			}
			if n == 0 {
				t.Fatal("the file holds no pending writes")
			}
			exact25(t, "written after the upgrade", s, m)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			exactFile25(t, "reopened read-only", path, Options{ReadOnly: true}, m)
		})
	}
}

// op25 is one write of the crash child, as it prints it: a Put (id,
// parent, step) or one task's PutWrites on a checkpoint.
type op25 struct {
	Kind   string      `json:"k"` // "put" or "wr"
	Thread string      `json:"thread"`
	NS     string      `json:"ns"`
	ID     string      `json:"id"`
	Parent string      `json:"parent,omitempty"`
	Step   int         `json:"step,omitempty"`
	Task   string      `json:"task,omitempty"`
	Path   string      `json:"path,omitempty"`
	Writes [][2]string `json:"writes,omitempty"` // channel, value
}

func (o op25) writes() []Write {
	out := make([]Write, len(o.Writes))
	for i, w := range o.Writes {
		out[i] = Write{Channel: w[0], Value: w[1]}
	}
	return out
}

const spec25ChildEnv = "CKPT_SPEC25_CHILD" // path of the store the child writes

// spec25Child writes Puts and PutWrites (Sync, or NoWAL) until it is
// killed, printing "B <op>" before each call and "A" once it returned.
func spec25Child(path string) {
	s, err := Open(path, Options{NoWAL: os.Getenv("CKPT_SPEC25_NOWAL") != ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(25, uint64(os.Getpid())))
	do := func(o op25) {
		b, _ := json.Marshal(o)
		fmt.Printf("B %s\n", b)
		var err error
		if o.Kind == "put" {
			_, err = put25(ctx, s, o.Thread, o.NS, o.Parent, o.ID, o.Step)
		} else {
			err = s.PutWrites(ctx, Config{ThreadID: o.Thread, CheckpointNS: o.NS, CheckpointID: o.ID}, o.writes(), o.Task, o.Path)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(2)
		}
		fmt.Println("A")
	}
	heads := map[string]string{}
	for step := 0; ; step++ {
		thread := fmt.Sprintf("c%d", rng.IntN(3))
		id := ulid.Make().String()
		parent := heads[thread]
		do(op25{Kind: "put", Thread: thread, ID: id, Parent: parent, Step: step})
		heads[thread] = id
		for task := range 1 + rng.IntN(3) {
			for _, target := range []string{id, parent} { // a late write on the parent too
				if target == "" {
					continue
				}
				o := op25{Kind: "wr", Thread: thread, ID: target, Task: fmt.Sprintf("t%d", task), Path: fmt.Sprint(rng.IntN(2))}
				for i := range 1 + rng.IntN(4) {
					ch := []string{"out", "n", ChannelError, ChannelInterrupt}[rng.IntN(4)]
					o.Writes = append(o.Writes, [2]string{ch, fmt.Sprintf("%s-%d-%s", target, i, text25(rng, 100+rng.IntN(900)))})
				}
				do(o)
			}
		}
	}
}

// TestSpec25CrashedPutWritesExact kills (SIGKILL) a child process writing
// Puts and PutWrites in Sync mode (with the log, and NoWAL) after a
// random number of acknowledged writes, reopens the file and reads it
// back: every acknowledged write exactly, the write in flight whole or
// not at all, and Verify clean.
func TestSpec25CrashedPutWritesExact(t *testing.T) {
	if path := os.Getenv(spec25ChildEnv); path != "" {
		spec25Child(path)
		return
	}
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rng := rand.New(rand.NewPCG(25, 70))
	for round := range 6 {
		nowal := round%2 == 1
		acks := 10 + rng.IntN(120)
		t.Run(fmt.Sprintf("round=%d,nowal=%v,acks=%d", round, nowal, acks), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			cmd := exec.Command(testchild.Binary(), "-test.run=^TestSpec25CrashedPutWritesExact$")
			env := []string{spec25ChildEnv + "=" + path}
			if nowal {
				env = append(env, "CKPT_SPEC25_NOWAL=1")
			}
			cmd.Env = childEnv(env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var done []op25
			var inFlight *op25
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 1<<20)
			for len(done) < acks && sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "B "):
					inFlight = new(op25)
					if err := json.Unmarshal([]byte(line[2:]), inFlight); err != nil {
						t.Fatal(err)
					}
				case line == "A" && inFlight != nil:
					done = append(done, *inFlight)
					inFlight = nil
				}
			}
			_ = cmd.Process.Kill() // SIGKILL
			// What the child printed after it was told to die is not
			// known to the parent: it may or may not be acknowledged.
			for sc.Scan() {
				if line := sc.Text(); strings.HasPrefix(line, "B ") && inFlight == nil {
					inFlight = new(op25)
					if err := json.Unmarshal([]byte(line[2:]), inFlight); err != nil {
						t.Fatal(err)
					}
				} else if line == "A" && inFlight != nil {
					done = append(done, *inFlight)
					inFlight = nil
				}
			}
			_ = cmd.Wait()
			if len(done) < acks {
				t.Fatalf("child stopped after %d of %d writes: %s", len(done), acks, stderr.String())
			}
			m := newModel25()
			apply := func(o op25) {
				if o.Kind == "put" {
					m.add(&cp25{thread: o.Thread, id: o.ID, parent: o.Parent, step: o.Step, writes: map[[2]string]w25{}})
					return
				}
				m.applyWrites(m.get(o.Thread, "", o.ID), o.Task, o.Path, o.writes())
			}
			for _, o := range done {
				apply(o)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if inFlight != nil {
				t.Logf("%d writes acknowledged, a %s in flight", len(done), inFlight.Kind)
			}
			if o := inFlight; o != nil { // whole or not at all
				tp, err := s.GetTuple(context.Background(), Config{ThreadID: o.Thread, CheckpointID: o.ID})
				switch {
				case o.Kind == "put" && errors.Is(err, ErrNotFound):
				case o.Kind == "put" && err == nil:
					apply(*o)
				case err != nil:
					t.Fatalf("checkpoint of the write in flight: %v", err)
				default:
					c := m.get(o.Thread, "", o.ID)
					if diffWrites25(tp.PendingWrites, c.want()) != "" {
						apply(*o)
						if d := diffWrites25(tp.PendingWrites, c.want()); d != "" {
							t.Fatalf("the PutWrites in flight at the kill is partly stored: %s", d)
						}
					}
				}
			}
			exact25(t, fmt.Sprintf("after a kill at %d acknowledged writes", len(done)), s, m)
		})
	}
}

// TestSpec25WritesProperty: random sequences of Put, PutWrites (tasks
// writing again, special channels), GC (KeepLast), CopyThread (with and
// without Replace) and reopen, against a model of every live checkpoint's
// pending writes: every read returns exactly the model, Verify is clean.
func TestSpec25WritesProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "ckpt-spec25-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "p.db")
		opts := Options{Durability: NoSync, NoWAL: rapid.Bool().Draw(rt, "nowal")}
		s, err := Open(path, opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { s.Close() }()
		m := newModel25()
		threads := []string{"a", "b", "c"}
		live := func(thread, ns string) []*cp25 {
			var out []*cp25
			for _, c := range m.cps {
				if c.thread == thread && (c.ns == ns || ns == "*") {
					out = append(out, c)
				}
			}
			return out
		}
		check := func(what string) {
			rc := checkOpen25(s, m, "", true)
			if len(rc.bad) > 0 || rc.changed > 0 || !rc.verified {
				rt.Fatalf("%s: %d wrong reads, Verify %v: %v", what, rc.changed, rc.problems, rc.bad[:min(3, len(rc.bad))])
			}
		}
		step := 0
		for range rapid.IntRange(1, 40).Draw(rt, "ops") {
			switch op := rapid.IntRange(0, 10).Draw(rt, "op"); {
			case op <= 2: // Put: a child of the head, or a fork
				thread := rapid.SampledFrom(threads).Draw(rt, "thread")
				ns := rapid.SampledFrom([]string{"", "sub"}).Draw(rt, "ns")
				parent := ""
				if cs := live(thread, ns); len(cs) > 0 {
					parent = cs[len(cs)-1].id
					if rapid.Bool().Draw(rt, "fork") {
						parent = rapid.SampledFrom(cs).Draw(rt, "parent").id
					}
				}
				m.put(rt, s, thread, ns, parent, step)
				step++
			case op <= 6: // PutWrites
				if len(m.cps) == 0 {
					continue
				}
				c := rapid.SampledFrom(m.cps).Draw(rt, "checkpoint")
				var writes []Write
				for range rapid.IntRange(1, 4).Draw(rt, "writes") {
					writes = append(writes, Write{
						Channel: rapid.SampledFrom([]string{"x", "y", ChannelError, ChannelInterrupt, ChannelResume}).Draw(rt, "channel"),
						Value:   rapid.SampledFrom([]any{"v1", "v2", 3, nil, strings.Repeat("big", 400)}).Draw(rt, "value"),
					})
				}
				task := rapid.SampledFrom([]string{"t1", "t2", "t3"}).Draw(rt, "task")
				m.putWrites(rt, s, c, task, rapid.SampledFrom([]string{"", "p"}).Draw(rt, "path"), writes)
			case op == 7:
				k := rapid.IntRange(1, 3).Draw(rt, "keep")
				if _, err := s.GC(ctx, Policy{KeepLast: k}); err != nil {
					rt.Fatal(err)
				}
				m.keep(func(_ *cp25, rank int) bool { return rank < k })
			case op == 8:
				src := rapid.SampledFrom(threads).Draw(rt, "src")
				dst := rapid.SampledFrom(threads).Draw(rt, "dst")
				replace := rapid.Bool().Draw(rt, "replace")
				if src == dst {
					continue
				}
				err := s.CopyThread(ctx, src, dst, CopyOptions{Replace: replace})
				switch {
				case !m.has(src):
					if !errors.Is(err, ErrNotFound) {
						rt.Fatalf("CopyThread from empty %s: %v, want ErrNotFound", src, err)
					}
				case m.has(dst) && !replace:
					if !errors.Is(err, ErrExists) {
						rt.Fatalf("CopyThread over %s: %v, want ErrExists", dst, err)
					}
				case err != nil:
					rt.Fatalf("CopyThread %s -> %s: %v", src, dst, err)
				default:
					m.copyThread(src, dst)
				}
			case op == 9:
				if err := s.Close(); err != nil {
					rt.Fatal(err)
				}
				if s, err = Open(path, opts); err != nil {
					rt.Fatal(err)
				}
			default:
				check("midway")
			}
		}
		check("at the end")
	})
}
