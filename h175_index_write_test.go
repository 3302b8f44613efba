package ckpt_test

// Helper 175's hunt: a damaged leaf page of the global index (index/),
// then writes into it. Every checkpoint id is fixed (Checkpoint.ID and
// TS), so the index's keys and the page each lands in are the same from
// run to run, and every byte flipped is found by its key in the file
// (keyOffsetInFile), not by a page number. Each case flips one byte of
// one index key (or of its leaf element's header), opens the copy
// read-write and writes into the index where the damage lies
// (CopyThread of the thread whose entries fill it, checkpoints whose ids
// fall between the stored ones, new heads, pending writes), then reads
// it through every read that walks or looks up the index. Each read
// gives what a clean copy given the same acknowledged writes gives, or an
// error wrapping ErrCorrupt (an iterator: a prefix of the clean sequence
// first); Verify reports whatever a read refused.
//
// CKPT_H175_STRIDE (default 40; 160 under -short or -race) takes every
// stride-th key; CKPT_H175_BITS (default 2: 0x80 and one low bit
// rotating with the byte; 8: every bit) how many masks each byte gets;
// CKPT_H175_EDGES=1 adds the last key of every leaf page, CKPT_H175_TRACE=1
// logs each case before it runs (a case that kills the process is named).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// h175Base is the millisecond of the first checkpoint.
var h175Base = uint64(time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli())

// h175ID is the fixed id of the checkpoint at millisecond h175Base+ms.
func h175ID(ms uint64, salt byte) string {
	return ulid.MustNew(h175Base+ms, bytes.NewReader(bytes.Repeat([]byte{salt}, 16))).String()
}

// h175Put writes n checkpoints on thread th (namespace ns) at
// milliseconds first, first+step, ..., each with a pending write.
func h175Put(ctx context.Context, s *ckpt.Store, th, ns string, n int, first, step uint64, salt byte) error {
	cfg := ckpt.Config{ThreadID: th, CheckpointNS: ns}
	if tp, err := s.GetTuple(ctx, cfg); err == nil {
		cfg = tp.Config
	} else if !errors.Is(err, ckpt.ErrNotFound) {
		return err
	}
	for i := range n {
		ms := first + uint64(i)*step
		ver := fmt.Sprintf("v%d", ms)
		cp := ckpt.Checkpoint{
			ID:              h175ID(ms, salt),
			TS:              time.UnixMilli(int64(h175Base + ms)),
			ChannelValues:   map[string]any{"msg": fmt.Sprintf("%s %s %d", th, ns, ms)},
			ChannelVersions: map[string]string{"msg": ver},
		}
		next, err := s.Put(ctx, cfg, cp, ckpt.Metadata{"step": i, "node": th}, map[string]string{"msg": ver})
		if err != nil {
			return err
		}
		if err := s.PutWrites(ctx, next, []ckpt.Write{{Channel: "out", Value: ms}}, "task", "path"); err != nil {
			return err
		}
		cfg = next
	}
	return nil
}

// h175Build writes the store the hunt damages: four threads whose ids
// interleave in the index (p0 the most), one with a second namespace.
func h175Build(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		th, ns      string
		n           int
		first, step uint64
	}{
		{"p0", "", 60, 0, 10},
		{"p1", "", 30, 3, 20},
		{"p1", "sub", 8, 7, 70},
		{"p2", "", 25, 1, 24},
		{"q", "", 12, 9, 50},
	} {
		if err := h175Put(ctx, s, w.th, w.ns, w.n, w.first, w.step, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// h175Writes are the writes each damaged copy takes, in order; each one
// is acknowledged or not on its own.
var h175Writes = []struct {
	name string
	run  func(ctx context.Context, s *ckpt.Store) error
}{
	{"CopyThread p0", func(ctx context.Context, s *ckpt.Store) error {
		return s.CopyThread(ctx, "p0", "p0-copy", ckpt.CopyOptions{})
	}},
	{"Put mid", func(ctx context.Context, s *ckpt.Store) error {
		// A new thread whose ids fall between the stored ones, all
		// along the index.
		return h175Put(ctx, s, "mid", "", 30, 5, 20, 2)
	}},
	{"Put heads", func(ctx context.Context, s *ckpt.Store) error {
		for _, th := range []string{"p1", "p2", "q"} {
			if err := h175Put(ctx, s, th, "", 3, 1000, 1, 3); err != nil {
				return err
			}
		}
		return nil
	}},
}

// h175Keys lists the checkpoints of the store (thread \x00 ns \x00 id),
// read by thread (not through the index), and the threads.
func h175Keys(t *testing.T, path string) (keys, threads []string) {
	t.Helper()
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for tp, err := range s.List(context.Background(), ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, spec14TupleKey(tp.Config))
		if !slices.Contains(threads, tp.Config.ThreadID) {
			threads = append(threads, tp.Config.ThreadID)
		}
	}
	sort.Strings(keys)
	sort.Strings(threads)
	return keys, threads
}

// h175Probes reads s through the reads that walk or look up the index,
// and the point reads of every checkpoint in keys.
func h175Probes(ctx context.Context, s *ckpt.Store, keys, threads []string) map[string]h164Result {
	out := map[string]h164Result{}
	tuple := func(tp *ckpt.Tuple) string {
		return spec14TupleKey(tp.Config) + "=" + strings.Join(spec14Parts(tp), "|")
	}
	list := func(name string, opts ckpt.ListOptions) {
		var r h164Result
		for tp, err := range s.List(ctx, opts) {
			if err != nil {
				r.err = err
				break
			}
			r.items = append(r.items, tuple(tp))
		}
		out[name] = r
	}
	one := func(name, item string, err error) {
		if err != nil {
			out[name] = h164Result{err: err}
			return
		}
		out[name] = h164Result{items: []string{item}}
	}
	list("List", ckpt.ListOptions{})
	for _, n := range []int{1, 2, 3, 5, 8} {
		list(fmt.Sprintf("List limit %d", n), ckpt.ListOptions{Limit: n})
	}
	list("List node p0", ckpt.ListOptions{Filter: map[string]any{"node": "p0"}})
	list("List step 3 limit 2", ckpt.ListOptions{Filter: map[string]any{"step": 3}, Limit: 2})
	list("List ns sub", ckpt.ListOptions{Namespace: ckpt.NS("sub")})
	list("List ns root limit 4", ckpt.ListOptions{Namespace: ckpt.NS(""), Limit: 4})
	var ids []string
	heads := map[string]bool{}
	for _, k := range keys {
		p := strings.Split(k, "\x00")
		if !slices.Contains(ids, p[2]) {
			ids = append(ids, p[2])
		}
		heads[p[0]+"\x00"+p[1]] = true
		cfg := ckpt.Config{ThreadID: p[0], CheckpointNS: p[1], CheckpointID: p[2]}
		tp, err := s.GetTuple(ctx, cfg)
		if err == nil {
			one("GetTuple "+k, tuple(tp), nil)
		} else {
			one("GetTuple "+k, "", err)
		}
		id, err := s.ResolveID(ctx, p[0], p[1], p[2][:12])
		one("ResolveID "+k, id, err)
	}
	sort.Strings(ids)
	for i, id := range ids {
		list("List before limit 3 "+id, ckpt.ListOptions{Before: id, Limit: 3})
		if i%6 == 0 {
			list("List before "+id, ckpt.ListOptions{Before: id})
			list("List before node p0 limit 2 "+id, ckpt.ListOptions{Before: id, Limit: 2, Filter: map[string]any{"node": "p0"}})
		}
	}
	for h := range heads {
		p := strings.Split(h, "\x00")
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: p[0], CheckpointNS: p[1]})
		if err == nil {
			one("GetTuple latest "+h, tuple(tp), nil)
		} else {
			one("GetTuple latest "+h, "", err)
		}
	}
	for _, th := range threads {
		list("List thread "+th, ckpt.ListOptions{ThreadID: th})
		list("List thread limit 2 "+th, ckpt.ListOptions{ThreadID: th, Limit: 2})
		ti, err := s.Thread(ctx, th)
		one("Thread "+th, h164Info(ti), err)
	}
	var r h164Result
	for ti, err := range s.Threads(ctx) {
		if err != nil {
			r.err = err
			break
		}
		r.items = append(r.items, h164Info(ti))
	}
	out["Threads"] = r
	for _, q := range []ckpt.ThreadQuery{{}, {Limit: 2}, {Offset: 1, Limit: 2}, {Prefix: "p"}} {
		name := fmt.Sprintf("RecentThreads %+v", q)
		pg, err := s.RecentThreads(ctx, q)
		if err != nil {
			out[name] = h164Result{err: err}
			continue
		}
		r := h164Result{items: []string{fmt.Sprintf("total %d", pg.Total)}}
		for i, ti := range pg.Threads {
			if pg.Errs != nil && pg.Errs[i] != nil {
				r.err = pg.Errs[i]
				break
			}
			r.items = append(r.items, h164Info(ti))
		}
		out[name] = r
	}
	return out
}

// h175Target is one byte to flip: where, and what it is.
type h175Target struct {
	off  int
	what string
}

// h175Targets finds, in the clean file at path, the bytes of every
// stride-th key of the index and of its leaf element's header.
func h175Targets(t *testing.T, path string, stride int, edges bool) []h175Target {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := db.Info().PageSize
	var out []h175Target
	err = db.View(func(tx *bolt.Tx) error {
		data := db.Info().Data
		type key struct {
			k   []byte
			off int
		}
		var keys []key
		c := tx.Bucket([]byte("index")).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, key{k, int(uintptrOf(k) - data)})
		}
		for ki, kk := range keys {
			i, k, off := ki+1, kk.k, kk.off
			pg := off / pageSize
			// A page's last key: the next key lies in another page.
			last := ki+1 == len(keys) || keys[ki+1].off/pageSize != pg
			if i%stride != 0 && !(last && edges) {
				continue
			}
			name := fmt.Sprintf("index key %d (%x, page %d)", i, k, pg)
			for j := range k {
				out = append(out, h175Target{off + j, fmt.Sprintf("%s byte %d", name, j)})
			}
			// Its element header: the leaf element whose key is here.
			base := pg * pageSize
			file := raw[base : base+pageSize]
			count := int(file[10]) | int(file[11])<<8
			for e := range count {
				eo := 16 + 16*e
				pos := int(le32(file[eo+4:]))
				if base+eo+pos == off {
					for j := 4; j < 16; j++ {
						out = append(out, h175Target{base + eo + j, fmt.Sprintf("%s element %d header byte %d", name, e, j)})
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func uintptrOf(k []byte) uintptr { return uintptr(unsafe.Pointer(&k[0])) }

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// h175Env is CKPT_H175_<name> as a positive number, or def.
func h175Env(name string, def int) int { return h164Env("CKPT_H175_"+name, def) }

// h175Case is what one damaged copy gave.
type h175Case struct {
	openRefused, writesRefused, readsRefused bool
}

// h175Fixture is the clean store of the hunt, what it reads, and what a
// clean copy reads after each set of acknowledged writes.
type h175Fixture struct {
	dir, clean string
	orig       []byte
	keys0      []string
	threads0   []string
	want0      map[string]h164Result
	after      map[int]h175Reading
}

type h175Reading struct {
	keys, threads []string
	want          map[string]h164Result
}

func h175Setup(t *testing.T) *h175Fixture {
	t.Helper()
	f := &h175Fixture{dir: t.TempDir(), after: map[int]h175Reading{}}
	f.clean = filepath.Join(f.dir, "clean.db")
	h175Build(t, f.clean)
	var err error
	if f.orig, err = os.ReadFile(f.clean); err != nil {
		t.Fatal(err)
	}
	f.keys0, f.threads0 = h175Keys(t, f.clean)
	f.want0 = h175Probes(context.Background(), mustOpenRO(t, f.clean), f.keys0, f.threads0)
	return f
}

// ref is what a clean copy reads after the writes in acked (bit i: write
// i acknowledged).
func (f *h175Fixture) ref(t *testing.T, acked int) h175Reading {
	t.Helper()
	if r, ok := f.after[acked]; ok {
		return r
	}
	ctx := context.Background()
	p := filepath.Join(f.dir, fmt.Sprintf("ref-%d.db", acked))
	if err := os.WriteFile(p, f.orig, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ckpt.Open(p, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range h175Writes {
		if acked&(1<<i) != 0 {
			if err := w.run(ctx, s); err != nil {
				t.Fatalf("%s on a clean copy: %v", w.name, err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var r h175Reading
	r.keys, r.threads = h175Keys(t, p)
	r.want = h175Probes(ctx, mustOpenRO(t, p), r.keys, r.threads)
	f.after[acked] = r
	return r
}

// TestH175RaisedIndexKeyThenWrites: the first byte of an id in a key of
// the global index, in the middle of its leaf page, flipped (^0x80: the
// key now sorts after every other). Reads of the file as it is find
// every checkpoint or refuse. But a read-write Open took the file, and
// CopyThread and Puts wrote into that page: bbolt places each new key by
// a binary search over the page's keys, which the damaged one misleads,
// so new keys went in out of place and the page was written so. Then a
// List with Before and Limit 3 (the history browser's next page)
// returned another thread's entries where p1's (or p0's) stood, and no
// error: the keys it walked were in order, and the page check looks only
// at the threads a page met. The write must be refused (ErrCorrupt), or
// every read after it give what a clean copy given the same writes
// gives, or ErrCorrupt.
func TestH175RaisedIndexKeyThenWrites(t *testing.T) {
	t.Parallel()
	f := h175Setup(t)
	var tg *h175Target
	for _, c := range h175Targets(t, f.clean, 1, false) {
		if strings.HasPrefix(c.what, "index key 40 ") && strings.HasSuffix(c.what, " byte 0") {
			tg = &c
			break
		}
	}
	if tg == nil {
		t.Fatal("no index key 40")
	}
	c := h175One(t, context.Background(), f, tg.off, 0x80, tg.what+" ^0x80")
	t.Logf("%s ^0x80: %+v", tg.what, c)
}

func TestH175IndexDamageThenWrites(t *testing.T) {
	t.Parallel()
	f := h175Setup(t)
	all := f.ref(t, 1<<len(h175Writes)-1)
	t.Logf("clean: %d checkpoints in %d threads; after the writes %d in %d", len(f.keys0), len(f.threads0), len(all.keys), len(all.threads))
	stride := h175Env("STRIDE", 40)
	if raceEnabled || testing.Short() {
		stride = h175Env("STRIDE", 160)
	}
	bits := h175Env("BITS", 2)
	targets := h175Targets(t, f.clean, stride, h175Env("EDGES", 0) > 0)
	var cases, openRefused, writesRefused, readsRefused, quiet int
	trace := h175Env("TRACE", 0) > 0 // each case named before it runs
	for ti, tg := range targets {
		var masks []byte
		if bits >= 8 {
			for b := range 8 {
				masks = append(masks, 1<<b)
			}
		} else {
			masks = []byte{0x80, 1 << (ti % 7)}
		}
		for _, mask := range masks {
			cases++
			if trace {
				t.Logf("case %s ^%#x", tg.what, mask)
			}
			c := h175One(t, context.Background(), f, tg.off, mask, fmt.Sprintf("%s ^%#x", tg.what, mask))
			switch {
			case c.openRefused:
				openRefused++
			case c.writesRefused:
				writesRefused++
			case c.readsRefused:
				readsRefused++
			default:
				quiet++
			}
		}
	}
	t.Logf("%d targets, %d damaged copies: %d refused by a read-write Open, %d with a write refused, %d with reads refused after, %d read as clean", len(targets), cases, openRefused, writesRefused, readsRefused, quiet)
}

func mustOpenRO(t *testing.T, path string) *ckpt.Store {
	t.Helper()
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// h175One runs one damaged copy: reads before the writes, the writes,
// reads after.
func h175One(t *testing.T, ctx context.Context, f *h175Fixture, off int, mask byte, what string) (c h175Case) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s: panic: %v", what, p)
		}
	}()
	b := bytes.Clone(f.orig)
	b[off] ^= mask
	p := filepath.Join(f.dir, "damaged.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	check := func(phase string, keys, threads []string, want map[string]h164Result) bool {
		s, err := ckpt.Open(p, ckpt.Options{ReadOnly: true})
		if err != nil {
			if !errors.Is(err, ckpt.ErrCorrupt) {
				t.Errorf("%s: %s: read-only Open: %v (not ErrCorrupt)", what, phase, err)
			}
			return true
		}
		defer s.Close()
		got := h175Probes(ctx, s, keys, threads)
		refused, missing := h164Compare(t, what+": "+phase, want, got)
		if missing > 0 {
			for n, g := range got {
				if g.err != nil && errors.Is(g.err, ckpt.ErrNotFound) && want[n].err == nil {
					t.Errorf("%s: %s: %s: %v, where the clean store reads it (not ErrCorrupt)", what, phase, n, g.err)
				}
			}
		}
		rep, verr := s.Verify(ctx, ckpt.VerifyOptions{})
		if verr != nil && !errors.Is(verr, ckpt.ErrCorrupt) {
			t.Errorf("%s: %s: Verify: %v", what, phase, verr)
		}
		if refused+missing > 0 && verr == nil && rep.OK() {
			t.Errorf("%s: %s: %d reads refused, %d not found, and Verify reports nothing", what, phase, refused, missing)
		}
		return refused+missing > 0
	}
	check("before the writes", f.keys0, f.threads0, f.want0)
	s, err := ckpt.Open(p, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		if !errors.Is(err, ckpt.ErrCorrupt) {
			t.Errorf("%s: read-write Open: %v (not ErrCorrupt)", what, err)
		}
		c.openRefused = true
		return c
	}
	acked := 0
	for i, w := range h175Writes {
		if err := w.run(ctx, s); err != nil {
			if !errors.Is(err, ckpt.ErrCorrupt) {
				t.Errorf("%s: %s: %v (not ErrCorrupt)", what, w.name, err)
			}
			c.writesRefused = true
			continue
		}
		acked |= 1 << i
	}
	if err := s.Close(); err != nil {
		if !errors.Is(err, ckpt.ErrCorrupt) {
			t.Errorf("%s: Close: %v", what, err)
		}
		c.writesRefused = true
		return c
	}
	r := f.ref(t, acked)
	keys, threads, want := r.keys, r.threads, r.want
	if c.writesRefused {
		// A write refused part-way (one of several Puts) left what it
		// did before: only the point reads of what the acknowledged
		// writes made compare.
		single := map[string]h164Result{}
		for n, r := range want {
			if (strings.HasPrefix(n, "GetTuple ") || strings.HasPrefix(n, "ResolveID ")) && !strings.Contains(n, " latest ") {
				single[n] = r
			}
		}
		want = single
	}
	c.readsRefused = check("after the writes", keys, threads, want)
	return c
}
