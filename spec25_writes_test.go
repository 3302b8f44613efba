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
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
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

// want is c's pending writes in the order reads return them (README: task
// path, task id, idx).
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
func (m *model25) put(t testing.TB, s *Store, thread, ns, parent string, step int) *cp25 {
	t.Helper()
	v := fmt.Sprintf("s%d", step)
	cfg, err := s.Put(context.Background(), Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent},
		Checkpoint{ChannelValues: map[string]any{"step": step}, ChannelVersions: map[string]string{"step": v}},
		Metadata{"step": step, "run_id": fmt.Sprintf("run-%s-%d", thread, step%3)}, map[string]string{"step": v})
	if err != nil {
		t.Fatalf("Put %s/%q step %d: %v", thread, ns, step, err)
	}
	c := &cp25{thread: thread, ns: ns, id: cfg.CheckpointID, parent: parent, step: step, writes: map[[2]string]w25{}}
	m.add(c)
	return c
}

// putWrites stores one task's writes on c and applies them to the model
// as PutWrites does: a regular write keyed (task, idx) keeps the first
// value stored under that key, a special one ("__error__", ...) replaces it.
func (m *model25) putWrites(t testing.TB, s *Store, c *cp25, task, path string, writes []Write) {
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
		c.writes[k] = w25{task: task, path: path, channel: w.Channel, value: w.Value.(string), idx: idx}
	}
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
func (m *model25) randomWrites(t testing.TB, s *Store, rng *rand.Rand, c *cp25) {
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

const (
	spec25Threads = 30
	spec25Steps   = 10
)

// spec25Store builds the store the damage specs damage: 30 threads of 10
// checkpoints (the even threads with their last 3 in namespace "sub"),
// each with 0-5 pending writes. It returns the closed file's path.
func spec25Store(t *testing.T, dir string) (string, *model25) {
	t.Helper()
	path := filepath.Join(dir, "writes.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel25()
	rng := rand.New(rand.NewPCG(25, 25))
	for th := range spec25Threads {
		thread := fmt.Sprintf("th%02d", th)
		parent := map[string]string{}
		for step := range spec25Steps {
			ns := ""
			if th%2 == 0 && step >= spec25Steps-3 {
				ns = "sub"
			}
			c := m.put(t, s, thread, ns, parent[ns], step)
			parent[ns] = c.id
			m.randomWrites(t, s, rng, c)
		}
	}
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
	bad     []string
	changed int
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
		var v string
		if err := w.Value.Decode(&v); err != nil {
			return fmt.Sprintf("write %q %d does not decode: %v", w.TaskID, w.Idx, err)
		}
		g = append(g, w25{task: w.TaskID, path: w.TaskPath, channel: w.Channel, value: v, idx: w.Idx})
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
	var step int
	if err := tp.Decode("step", &step); err != nil || step != c.step {
		rc.changed++
		rc.badf("%s of %s: state step %d, %v; want %d", what, c.name(), step, err, c.step)
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
	ctx := context.Background()
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
	rc.call("Verify", func() {
		rep, err := s.Verify(ctx, VerifyOptions{})
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
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	damage(path)
	return path
}

// TestSpec25DeletedWriteRecord: one pending write deleted from a closed
// file with bbolt (a tool, or damage that leaves the pages consistent):
// no read may return its checkpoint without it and no error.
func TestSpec25DeletedWriteRecord(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t, t.TempDir())
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
	src, m := spec25Store(t, t.TempDir())
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
// of each element's child pgid.
func keyBytes25(t *testing.T, path string, ps int, id uint64) (keys, pgids []int64) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := int(id) * ps
	flags, count := binary.LittleEndian.Uint16(file[off+8:]), int(binary.LittleEndian.Uint16(file[off+10:]))
	for i := range count {
		e := off + 16 + 16*i
		var pos, ksize int
		if flags == 0x01 {
			pos, ksize = int(binary.LittleEndian.Uint32(file[e:])), int(binary.LittleEndian.Uint32(file[e+4:]))
			for j := range 8 {
				pgids = append(pgids, int64(e+8+j))
			}
		} else {
			pos, ksize = int(binary.LittleEndian.Uint32(file[e+4:])), int(binary.LittleEndian.Uint32(file[e+8:]))
		}
		for j := range ksize {
			keys = append(keys, int64(e+pos+j))
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
// fresh copy. A flip in the namespace or checkpoint id moves the write out
// of its checkpoint's prefix; the checkpoint must not read back without it.
func TestSpec25FlippedByteInWriteKeys(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t, t.TempDir())
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
	failed := 0
	for _, at := range all[:100] {
		mask := byte(1 + rng.IntN(255))
		t.Run(fmt.Sprintf("%s,off=%d,mask=%#x", at.thread, at.off, mask), func(t *testing.T) {
			path := damaged25(t, src, func(path string) { flipAt25(t, path, at.off, mask) })
			rc := checkStore25(t, path, Options{ReadOnly: true}, m, at.thread)
			report25(t, fmt.Sprintf("leaf key byte of %s at %d ^ %#x", at.thread, at.off, mask), rc)
			if len(rc.bad) > 0 {
				failed++
			}
		})
	}
	t.Logf("%d of 100 flips read back wrong", failed)
}

// TestSpec25FlippedByteInWriteBranch flips, each on a fresh copy, every
// byte of every element key and child pgid of the wr/ branch pages of a
// thread with a "sub" namespace. A changed separator key can land
// a checkpoint's seek past its first writes; a changed pgid hands the
// scan another page.
func TestSpec25FlippedByteInWriteBranch(t *testing.T) {
	t.Parallel()
	src, m := spec25Store(t, t.TempDir())
	pages := readPages25(t, src)
	rng := rand.New(rand.NewPCG(25, 4))
	failed, total := 0, 0
	for _, thread := range []string{"th04"} {
		wp := pages.threads[thread]
		if len(wp.branches) == 0 {
			t.Fatalf("thread %s: wr/ has no branch page (%d leaves)", thread, len(wp.leaves))
		}
		var offs []int64
		for _, id := range wp.branches {
			keys, pgids := keyBytes25(t, src, pages.pageSize, id)
			offs = append(offs, keys...)
			offs = append(offs, pgids...)
		}
		for _, off := range offs {
			mask := byte(1 + rng.IntN(255))
			total++
			t.Run(fmt.Sprintf("%s,off=%d,mask=%#x", thread, off, mask), func(t *testing.T) {
				path := damaged25(t, src, func(path string) { flipAt25(t, path, off, mask) })
				rc := checkStore25(t, path, Options{ReadOnly: true}, m, thread)
				report25(t, fmt.Sprintf("branch byte of %s at %d ^ %#x", thread, off, mask), rc)
				if len(rc.bad) > 0 {
					failed++
				}
			})
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
	src, m := spec25Store(t, t.TempDir())
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
	failed := 0
	for _, d := range ds {
		t.Run(d.name, func(t *testing.T) {
			path := damaged25(t, src, d.fn)
			rc := checkStore25(t, path, Options{ReadOnly: true}, m, d.thread)
			report25(t, "wr/ header "+d.name, rc)
			if len(rc.bad) > 0 {
				failed++
			}
		})
	}
	t.Logf("%d of %d header damages read back wrong", failed, len(ds))
}
