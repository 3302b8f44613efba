package ckpt_test

// Helper 164's hunt: bytes flipped in the store file (not the log), one or
// two at a time, at offsets chosen by page type (branch, leaf, overflow,
// freelist, free; header, element headers, keys and values), then every
// read API compared with what the clean file reads: each read gives
// exactly the clean answer, or an error wrapping ErrCorrupt (ErrNotFound
// only where Verify then reports the damage); iterators give a prefix of
// the clean sequence before their error; Verify reports whatever a read
// refused. Then the damaged file is opened read-write and written to (a
// new checkpoint on every namespace's head, its pending writes): what was
// acknowledged reads back as the same writes on a clean copy read, or
// ErrCorrupt, and the damage is still reported.
//
// CKPT_H164_CASES sets how many damaged copies each store gets (default
// 8, 2 under -race or -short; the maintenance test half that),
// CKPT_H164_SEED the first seed. A seed fixes the damage (how many bytes,
// which kind of page, where in it, the mask); which page of that kind it
// lands in can differ from build to build, as bbolt's free-page map hands
// pages out in its own order.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// h164Result is what one read gave: the items it yielded (one for a
// single read) and the error it ended with.
type h164Result struct {
	items []string
	err   error
}

// h164Build writes the store the sweep damages: Put threads with
// namespaces, list deltas, pending writes (special ones too), a Save
// thread with a fork, and a thread with values large enough for
// overflow pages.
func h164Build(t *testing.T, path string, enc *ckpt.Encryption) {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync, Encryption: enc})
	if err != nil {
		t.Fatal(err)
	}
	m := newSpec14Model(164)
	m.fillPut(t, s, "p0", "", 12)
	m.fillPut(t, s, "p0", "sub", 5)
	m.fillPut(t, s, "p1", "", 9)
	m.fillPut(t, s, "p2", "tools", 4)
	m.fillSave(t, s, "s0", 7)
	// Enough threads for branch pages above the threads bucket's leaves.
	for i := range 40 {
		m.fillPut(t, s, fmt.Sprintf("many-%02d", i), "", 2)
	}
	// Large values (overflow pages) and special writes.
	rng := rand.New(rand.NewPCG(164, 1))
	big := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(26))
		}
		return string(b)
	}
	cfg := ckpt.Config{ThreadID: "big"}
	for step := range 3 {
		ver := "b" + strconv.Itoa(step+1)
		cp := ckpt.Checkpoint{
			ChannelValues:   map[string]any{"doc": big(9000 + 3000*step)},
			ChannelVersions: map[string]string{"doc": ver},
		}
		next, err := s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step, "node": "writer"}, map[string]string{"doc": ver})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, next, []ckpt.Write{{Channel: "__interrupt__", Value: big(50)}, {Channel: "out", Value: big(6000)}}, "t"+strconv.Itoa(step), "p"); err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, next, []ckpt.Write{{Channel: "__error__", Value: "boom " + big(10)}}, "e", "p"); err != nil {
			t.Fatal(err)
		}
		cfg = next
	}
	// Verify the clean store against the model before anything is flipped.
	for _, c := range m.cps {
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: c.thread, CheckpointNS: c.ns, CheckpointID: c.id})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.check(tp); err != nil {
			t.Fatalf("clean store: %s/%q/%s: %v", c.thread, c.ns, c.id, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func h164SnapParts(sn *ckpt.Snapshot) string {
	chs := make([]string, 0, len(sn.State))
	for ch := range sn.State {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s parent %s at %s meta %v", sn.ThreadID, sn.CheckpointID, sn.ParentID, sn.Time.UTC().Format(time.RFC3339Nano), sn.Metadata)
	for _, ch := range chs {
		fmt.Fprintf(&b, " %s=%x", ch, []byte(sn.State[ch]))
	}
	return b.String()
}

func h164Info(ti ckpt.ThreadInfo) string {
	return fmt.Sprintf("%s ns=%q cps=%d writes=%d newest=%s@%s bytes=%d", ti.ThreadID, ti.Namespaces, ti.Checkpoints, ti.PendingWrites, ti.NewestID, ti.NewestTime.UTC().Format(time.RFC3339Nano), ti.Bytes)
}

// h164Probes reads s through every read API. keys are the checkpoints
// (thread \x00 ns \x00 id) of the clean store; heads the (thread \x00 ns)
// pairs.
func h164Probes(ctx context.Context, s *ckpt.Store, keys []string) (out map[string]h164Result) {
	out = map[string]h164Result{}
	one := func(name string, item string, err error) {
		if err != nil {
			out[name] = h164Result{err: err}
			return
		}
		out[name] = h164Result{items: []string{item}}
	}
	tuple := func(tp *ckpt.Tuple, err error) (string, error) {
		if err != nil {
			return "", err
		}
		return strings.Join(spec14Parts(tp), "|"), nil
	}
	list := func(name string, opts ckpt.ListOptions) {
		var r h164Result
		for tp, err := range s.List(ctx, opts) {
			if err != nil {
				r.err = err
				break
			}
			f, _ := tuple(tp, nil)
			r.items = append(r.items, spec14TupleKey(tp.Config)+"="+f)
		}
		out[name] = r
	}
	rd := s.NewReader()
	threads := map[string]bool{}
	heads := map[string]bool{}
	var ids []string
	for _, k := range keys {
		p := strings.Split(k, "\x00")
		cfg := ckpt.Config{ThreadID: p[0], CheckpointNS: p[1], CheckpointID: p[2]}
		threads[p[0]] = true
		heads[p[0]+"\x00"+p[1]] = true
		ids = append(ids, p[2])
		f, err := tuple(s.GetTuple(ctx, cfg))
		one("GetTuple "+k, f, err)
		f, err = tuple(rd.GetTuple(ctx, cfg))
		one("Reader "+k, f, err)
		if p[1] == "" {
			sn, err := s.Load(ctx, p[0], p[2])
			if err == nil {
				one("Load "+k, h164SnapParts(sn), nil)
			} else {
				one("Load "+k, "", err)
			}
		}
	}
	for h := range heads {
		p := strings.Split(h, "\x00")
		cfg := ckpt.Config{ThreadID: p[0], CheckpointNS: p[1]}
		f, err := tuple(s.GetTuple(ctx, cfg))
		one("GetTuple latest "+h, f, err)
		f, err = tuple(rd.GetTuple(ctx, cfg))
		one("Reader latest "+h, f, err)
		list("List ns "+h, ckpt.ListOptions{ThreadID: p[0], Namespace: ckpt.NS(p[1])})
		list("List ns limit 2 "+h, ckpt.ListOptions{ThreadID: p[0], Namespace: ckpt.NS(p[1]), Limit: 2})
	}
	slices.Sort(ids)
	list("List", ckpt.ListOptions{})
	list("List limit 5", ckpt.ListOptions{Limit: 5})
	list("List step 2", ckpt.ListOptions{Filter: map[string]any{"step": 2}})
	list("List writer", ckpt.ListOptions{Filter: map[string]any{"node": "writer"}})
	list("List ns sub", ckpt.ListOptions{Namespace: ckpt.NS("sub")})
	list("List ns root", ckpt.ListOptions{Namespace: ckpt.NS("")})
	for i := 0; i < len(ids); i += 7 {
		list("List before "+ids[i], ckpt.ListOptions{Before: ids[i]})
		list("List before limit 3 "+ids[i], ckpt.ListOptions{Before: ids[i], Limit: 3})
	}
	for th := range threads {
		list("List thread "+th, ckpt.ListOptions{ThreadID: th})
		list("List thread step 1 "+th, ckpt.ListOptions{ThreadID: th, Filter: map[string]any{"step": 1}})
		var hist h164Result
		for sn, err := range s.History(ctx, th, ckpt.ListOptions{}) {
			if err != nil {
				hist.err = err
				break
			}
			hist.items = append(hist.items, h164SnapParts(sn))
		}
		out["History "+th] = hist
		sn, err := s.Latest(ctx, th)
		if err == nil {
			one("Latest "+th, h164SnapParts(sn), nil)
		} else {
			one("Latest "+th, "", err)
		}
		br, err := s.Branches(ctx, th)
		var r h164Result
		for _, sn := range br {
			r.items = append(r.items, h164SnapParts(sn))
		}
		r.err = err
		out["Branches "+th] = r
		ti, err := s.Thread(ctx, th)
		one("Thread "+th, h164Info(ti), err)
		var buf bytes.Buffer
		_, err = s.Export(ctx, &buf, ckpt.ExportOptions{Threads: []string{th}})
		one("Export "+th, fmt.Sprintf("%x", sha256.Sum256(buf.Bytes())), err)
	}
	for _, k := range keys {
		p := strings.Split(k, "\x00")
		if p[1] != "" {
			continue
		}
		var hist h164Result
		for sn, err := range s.HistoryFrom(ctx, p[0], p[2], ckpt.ListOptions{Limit: 4}) {
			if err != nil {
				hist.err = err
				break
			}
			hist.items = append(hist.items, h164SnapParts(sn))
		}
		out["HistoryFrom "+k] = hist
		id, err := s.ResolveID(ctx, p[0], p[1], p[2][:h164UniquePrefix(keys, k)])
		one("ResolveID "+k, id, err)
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
		// A thread's summary may fail alone: it stands in the page as
		// its error.
		// A thread the damaged index does not name is listed last, its
		// place unknown, with its error: the page's order then stands as
		// that error (refused), each thread's summary still compared.
		var r h164Result
		r.items = append(r.items, "total "+strconv.Itoa(pg.Total))
		for i, ti := range pg.Threads {
			if pg.Errs != nil && pg.Errs[i] != nil {
				out[name+" "+ti.ThreadID] = h164Result{err: pg.Errs[i]}
				r.items = append(r.items, ti.ThreadID)
				r.err = cmp.Or(r.err, pg.Errs[i])
				continue
			}
			out[name+" "+ti.ThreadID] = h164Result{items: []string{h164Info(ti)}}
			r.items = append(r.items, ti.ThreadID)
		}
		out[name] = r
	}
	var buf bytes.Buffer
	_, err := s.Export(ctx, &buf, ckpt.ExportOptions{})
	one("Export", fmt.Sprintf("%x", sha256.Sum256(buf.Bytes())), err)
	_, err = s.Stats(ctx)
	one("Stats", "", err)
	return out
}

// h164Compare checks got against want, the clean store's reads. It
// returns how many reads refused (an error) and how many reads differ
// from want in a way that needs Verify to report the damage (ErrNotFound
// for something the clean store reads), and fails the test on a wrong
// value or an error that is neither.
func h164Compare(t *testing.T, what string, want, got map[string]h164Result) (refused, missing int) {
	t.Helper()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w := want[n]
		g, ok := got[n]
		if !ok {
			// A RecentThreads page that failed has no per-thread entries.
			continue
		}
		if w.err != nil {
			// The clean store has nothing there (Latest of a thread
			// with no root namespace): neither may the damaged one.
			if g.err == nil || len(g.items) > len(w.items) {
				t.Errorf("%s: %s reads %.600q where the clean store reads %.600q and %v", what, n, g.items, w.items, w.err)
			}
			continue
		}
		if n == "Stats" {
			if g.err != nil && !errors.Is(g.err, ckpt.ErrCorrupt) {
				t.Errorf("%s: %s: %v (not ErrCorrupt)", what, n, g.err)
			}
			if g.err != nil {
				refused++
			}
			continue
		}
		if g.err == nil {
			if !slices.Equal(g.items, w.items) {
				t.Errorf("%s: %s reads a wrong answer and no error:\n got %.600q\nwant %.600q", what, n, g.items, w.items)
			}
			continue
		}
		// Before its error an iterator yields a prefix of what the
		// clean store yields: a caller that stops early never reads an
		// older checkpoint as the newest.
		if len(g.items) > len(w.items) || !slices.Equal(g.items, w.items[:len(g.items)]) {
			t.Errorf("%s: %s yields what the clean store does not before its error %v:\n got %.600q\nwant %.600q", what, n, g.err, g.items, w.items)
		}
		switch {
		case errors.Is(g.err, ckpt.ErrCorrupt):
			refused++
		case errors.Is(g.err, ckpt.ErrNotFound):
			missing++
		default:
			t.Errorf("%s: %s: %v (neither ErrCorrupt nor ErrNotFound)", what, n, g.err)
		}
	}
	return refused, missing
}

// h164Page is one page of the file, as bbolt sees it.
type h164Page struct {
	id, span int // span: pages it covers with its overflow
	typ      string
	used     int // bytes of the first page in use (header, elements, data)
}

// h164Pages classifies every page of the closed file at path.
func h164Pages(t *testing.T, path string) (pages []h164Page, pageSize int) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "pages.db")
	copyFile(t, path, tmp)
	db, err := bolt.Open(tmp, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageSize = db.Info().PageSize
	raw, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		n := int(tx.Size()) / pageSize
		for id := 2; id < n; {
			pi, err := tx.Page(id)
			if err != nil || pi == nil {
				return fmt.Errorf("page %d: %v", id, err)
			}
			p := h164Page{id: id, span: 1 + pi.OverflowCount, typ: pi.Type, used: pageSize * (1 + pi.OverflowCount)}
			if pi.Type == "free" || id+p.span > n {
				// A free page's header is whatever it held before: its
				// overflow count means nothing now.
				p.span, p.used = 1, pageSize
			}
			if pi.Type == "leaf" || pi.Type == "branch" {
				// Elements are 16 bytes each after the 16-byte header;
				// pos is relative to the element.
				base := id * pageSize
				end := 16 + 16*pi.Count
				for i := range pi.Count {
					e := base + 16 + 16*i
					var pos, ksize, vsize int
					if pi.Type == "leaf" {
						pos = int(binary.LittleEndian.Uint32(raw[e+4:]))
						ksize = int(binary.LittleEndian.Uint32(raw[e+8:]))
						vsize = int(binary.LittleEndian.Uint32(raw[e+12:]))
					} else {
						pos = int(binary.LittleEndian.Uint32(raw[e:]))
						ksize = int(binary.LittleEndian.Uint32(raw[e+4:]))
					}
					end = max(end, 16+16*i+pos+ksize+vsize)
				}
				p.used = min(end, p.used)
			}
			pages = append(pages, p)
			for o := 1; o < p.span; o++ {
				// The rest of a page that overflows: its keys' and
				// values' bytes, no header.
				pages = append(pages, h164Page{id: id + o, span: 1, typ: "overflow", used: min(pageSize, p.used-o*pageSize)})
			}
			if p.typ == "leaf" || p.typ == "branch" {
				p.used = min(p.used, pageSize)
			}
			id += p.span
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages, pageSize
}

// h164Offset picks an offset to flip in a page of the kind given: its
// header, its element headers, or anywhere it uses.
func h164Offset(rng *rand.Rand, p h164Page, pageSize int) int {
	base := p.id * pageSize
	switch r := rng.IntN(8); {
	case r == 0 && p.typ != "overflow":
		return base + rng.IntN(16)
	case r <= 2 && p.used > 16 && p.typ != "overflow":
		return base + 16 + rng.IntN(min(p.used-16, 16*8))
	default:
		return base + rng.IntN(max(p.used, 1))
	}
}

// h164Default is n, or a quarter of it under -race or -short (each case
// reads the whole store through every API a few times), at least 1.
func h164Default(n int) int {
	if raceEnabled || testing.Short() {
		return max(n/4, 1)
	}
	return n
}

func h164Env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// h164After opens a copy read-write and adds, on every namespace head it
// can read, one checkpoint (its list appended, a given id and time) and
// two pending writes. It returns the keys it was acknowledged for and
// the head keys it could not read or write. The same calls on a clean
// copy and a damaged one write the same records.
func h164After(t *testing.T, path string, enc *ckpt.Encryption, heads []string) (acked []string, err error) {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync, Encryption: enc})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ms := uint64(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	for i, h := range heads {
		p := strings.Split(h, "\x00")
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: p[0], CheckpointNS: p[1]})
		if err != nil {
			continue
		}
		vals := map[string]any{}
		newVersions := map[string]string{}
		for ch, v := range tp.Checkpoint.ChannelValues {
			g, err := v.(ckpt.Raw).Value()
			if err != nil {
				return nil, fmt.Errorf("a value read back whole does not decode: %w", err)
			}
			if l, ok := g.([]any); ok {
				g = append(l, "after "+h)
				newVersions[ch] = "after"
			}
			vals[ch] = g
		}
		versions := map[string]string{}
		for ch, v := range tp.Checkpoint.ChannelVersions {
			versions[ch] = v
		}
		for ch, v := range newVersions {
			versions[ch] = v
		}
		id := ulid.MustNew(ms+uint64(i), bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 16))).String()
		cp := ckpt.Checkpoint{ID: id, TS: time.UnixMilli(int64(ms) + int64(i)), ChannelValues: vals, ChannelVersions: versions}
		next, err := s.Put(ctx, tp.Config, cp, ckpt.Metadata{"step": 99, "node": "after"}, newVersions)
		if err != nil {
			continue
		}
		acked = append(acked, spec14TupleKey(next))
		_ = s.PutWrites(ctx, next, []ckpt.Write{{Channel: "inbox", Value: "w " + h}, {Channel: "__interrupt__", Value: "stop"}}, "task", "path")
	}
	return acked, nil
}

func TestH164FlipSweep(t *testing.T) {
	t.Parallel()
	key := ckpt.Key{ID: 3, Secret: sha256.Sum256([]byte("h164"))}
	for _, tc := range []struct {
		name string
		enc  *ckpt.Encryption
	}{{"plain", nil}, {"sealed", &ckpt.Encryption{Keys: []ckpt.Key{key}}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h164Sweep(t, tc.enc)
		})
	}
}

// h164Clean is the clean store a sweep damages copies of, and what it
// reads.
type h164Clean struct {
	dir, path string
	keys      []string // every checkpoint, thread \x00 ns \x00 id
	heads     []string // every thread \x00 ns
	want      map[string]h164Result
	ro        ckpt.Options
}

// h164Keys lists the checkpoints and namespaces of the store at path.
func h164Keys(t *testing.T, path string, ro ckpt.Options) (keys, heads []string) {
	t.Helper()
	s, err := ckpt.Open(path, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	headSet := map[string]bool{}
	for tp, err := range s.List(context.Background(), ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, spec14TupleKey(tp.Config))
		headSet[tp.Config.ThreadID+"\x00"+tp.Config.CheckpointNS] = true
	}
	sort.Strings(keys)
	for h := range headSet {
		heads = append(heads, h)
	}
	sort.Strings(heads)
	return keys, heads
}

// h164Read returns what every read of the store at path gives for keys.
func h164Read(t *testing.T, path string, ro ckpt.Options, keys []string) map[string]h164Result {
	t.Helper()
	s, err := ckpt.Open(path, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := h164Probes(context.Background(), s, keys)
	for n, r := range want {
		if r.err != nil && !errors.Is(r.err, ckpt.ErrNotFound) {
			t.Fatalf("clean store %s: %s: %v", path, n, r.err)
		}
	}
	return want
}

func h164Setup(t *testing.T, enc *ckpt.Encryption) *h164Clean {
	t.Helper()
	c := &h164Clean{dir: t.TempDir(), ro: ckpt.Options{ReadOnly: true, Encryption: enc}}
	c.path = filepath.Join(c.dir, "clean.db")
	h164Build(t, c.path, enc)
	c.keys, c.heads = h164Keys(t, c.path, c.ro)
	c.want = h164Read(t, c.path, c.ro, c.keys)
	return c
}

// flip writes a copy of the clean file with one or two bytes flipped
// (case c of a sweep from seed) and says where.
func (c *h164Clean) flip(t *testing.T, orig []byte, pages []h164Page, pageSize int, seed uint64, n int) (path, what string) {
	t.Helper()
	byType := map[string][]h164Page{}
	for _, p := range pages {
		byType[p.typ] = append(byType[p.typ], p)
	}
	types := slices.Sorted(maps.Keys(byType))
	rng := rand.New(rand.NewPCG(seed, 164))
	b := bytes.Clone(orig)
	var where []string
	for range n {
		typ := types[rng.IntN(len(types))]
		p := byType[typ][rng.IntN(len(byType[typ]))]
		off := h164Offset(rng, p, pageSize)
		mask := byte(1 + rng.IntN(255))
		if rng.IntN(2) == 0 {
			mask = 1 << rng.IntN(8)
		}
		b[off] ^= mask
		where = append(where, fmt.Sprintf("%s page %d +%d ^%#x", typ, p.id, off-p.id*pageSize, mask))
	}
	path = filepath.Join(c.dir, fmt.Sprintf("flip-%d.db", seed))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, fmt.Sprintf("seed %d (%s)", seed, strings.Join(where, ", "))
}

func h164Sweep(t *testing.T, enc *ckpt.Encryption) {
	ctx := context.Background()
	c := h164Setup(t, enc)
	dir, path, keys, heads, want, ro := c.dir, c.path, c.keys, c.heads, c.want, c.ro
	// The same writes on a clean copy: what each acknowledged write reads.
	cleanAfter := filepath.Join(dir, "clean-after.db")
	copyFile(t, path, cleanAfter)
	ackedClean, err := h164After(t, cleanAfter, enc, heads)
	if err != nil || len(ackedClean) != len(heads) {
		t.Fatalf("writes on a clean copy: %d of %d acknowledged, %v", len(ackedClean), len(heads), err)
	}
	wantAfter := h164Read(t, cleanAfter, ro, slices.Concat(keys, ackedClean))

	pages, pageSize := h164Pages(t, path)
	counts := map[string]int{}
	for _, p := range pages {
		counts[p.typ]++
	}
	t.Logf("%d pages of %d bytes: %v", len(pages), pageSize, counts)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := h164Env("CKPT_H164_CASES", h164Default(8))
	seed0 := uint64(h164Env("CKPT_H164_SEED", 1))
	var refusedOpen, noticed, quiet, afterRefused int
	for i := range n {
		seed := seed0 + uint64(i)
		dp, what := c.flip(t, orig, pages, pageSize, seed, 1+i%3/2) // every third case flips two bytes
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s: panic: %v", what, p)
				}
			}()
			s, err := ckpt.Open(dp, ro)
			if err != nil {
				// The format marker (meta/"format") is checked against its
				// sum (meta/"format-sum"): ErrCorrupt. A flip of the sum's
				// key name leaves the marker unchecked, and a second flip
				// raising the marker reads as a newer format's file.
				if !errors.Is(err, ckpt.ErrCorrupt) && !errors.Is(err, ckpt.ErrFormatVersion) {
					t.Errorf("%s: Open: %v (not ErrCorrupt)", what, err)
				}
				refusedOpen++
				return
			}
			got := h164Probes(ctx, s, keys)
			refused, missing := h164Compare(t, what, want, got)
			rep, verr := s.Verify(ctx, ckpt.VerifyOptions{})
			_ = s.Close()
			if verr != nil && !errors.Is(verr, ckpt.ErrCorrupt) {
				t.Errorf("%s: Verify: %v", what, verr)
			}
			bad := verr != nil || !rep.OK()
			if (refused > 0 || missing > 0) && !bad {
				t.Errorf("%s: %d reads refused, %d not found, and Verify reports nothing", what, refused, missing)
			}
			if refused+missing > 0 {
				noticed++
			} else {
				quiet++
			}
			// Writes on the damaged file: what is acknowledged reads as
			// on the clean copy, or ErrCorrupt; the damage stays reported.
			acked, err := h164After(t, dp, enc, heads)
			if err != nil {
				if !errors.Is(err, ckpt.ErrCorrupt) {
					t.Errorf("%s: read-write Open or the writes: %v (not ErrCorrupt)", what, err)
				}
				if testing.Verbose() {
					t.Logf("%s: writes refused: %v", what, err)
				}
				afterRefused++
				return
			}
			for _, k := range acked {
				if !slices.Contains(ackedClean, k) {
					t.Errorf("%s: a write acknowledged as %q, which the clean copy's did not make", what, k)
				}
			}
			s, err = ckpt.Open(dp, ro)
			if err != nil {
				if !errors.Is(err, ckpt.ErrCorrupt) {
					t.Errorf("%s: Open after the writes: %v", what, err)
				}
				afterRefused++
				return
			}
			defer s.Close()
			gotAfter := h164Probes(ctx, s, slices.Concat(keys, acked))
			// Only single reads compare: the listings of a store where
			// some writes were refused hold fewer checkpoints.
			single := map[string]h164Result{}
			for name, r := range wantAfter {
				if strings.HasPrefix(name, "GetTuple ") || strings.HasPrefix(name, "Reader ") || strings.HasPrefix(name, "Load ") {
					if _, ok := gotAfter[name]; ok && !strings.Contains(name, " latest ") {
						single[name] = r
					}
				}
			}
			ref2, miss2 := h164Compare(t, what+" after writes", single, gotAfter)
			rep, verr = s.Verify(ctx, ckpt.VerifyOptions{})
			bad2 := verr != nil || !rep.OK()
			// The damage itself may be gone (a freelist or a page the
			// writes rewrote whole); what a read still refuses, Verify
			// reports.
			if (ref2 > 0 || miss2 > 0) && !bad2 {
				t.Errorf("%s: after the writes %d reads refused, %d not found, and Verify reports nothing", what, ref2, miss2)
			}
		}()
		_ = os.Remove(dp)
	}
	t.Logf("%d damaged copies: %d refused by Open, %d with reads refused, %d read as clean; writes after: %d refused", n, refusedOpen, noticed, quiet, afterRefused)
}

// h164Op is a maintenance run on a damaged copy.
type h164Op struct {
	name string
	// run runs it on the store open read-write at path and returns the
	// path of the file to read after it (the backup's, or path).
	run func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error)
}

var h164Ops = []h164Op{
	{"GC", func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error) {
		_, err := s.GC(ctx, ckpt.Policy{KeepLast: 2})
		return path, err
	}},
	{"Prune", func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error) {
		return path, s.Prune(ctx, []string{"p0", "s0", "big", "many-03"}, ckpt.PruneKeepLatest)
	}},
	{"Compact", func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error) {
		_, err := s.Compact(ctx, nil)
		return path, err
	}},
	{"Backup", func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error) {
		dst := path + ".backup"
		return dst, s.BackupFile(ctx, dst)
	}},
	{"CopyThread", func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error) {
		for _, th := range []string{"p0", "s0", "big"} {
			if err := s.CopyThread(ctx, th, th+"-copy", ckpt.CopyOptions{}); err != nil {
				return path, err
			}
		}
		return path, nil
	}},
	{"Export+Import", func(ctx context.Context, s *ckpt.Store, path string, enc *ckpt.Encryption) (string, error) {
		var buf bytes.Buffer
		if _, err := s.Export(ctx, &buf, ckpt.ExportOptions{}); err != nil {
			return path, err
		}
		dst := path + ".imported"
		_, err := ckpt.ImportFile(ctx, dst, &buf, ckpt.Options{Durability: ckpt.NoSync, Encryption: enc}, ckpt.ImportOptions{})
		return dst, err
	}},
}

// TestH164FlipThenMaintenance: each maintenance run (GC, Prune, Compact,
// Backup, CopyThread, Export then ImportFile) on a copy with flipped
// bytes either fails with ErrCorrupt or leaves a file whose every read
// of a checkpoint is what the same run on a clean copy reads (or the
// clean store, for what the clean run deleted and the damaged kept), or
// ErrCorrupt, with Verify reporting whatever a read refused.
func TestH164FlipThenMaintenance(t *testing.T) {
	t.Parallel()
	key := ckpt.Key{ID: 5, Secret: sha256.Sum256([]byte("h164m"))}
	for _, tc := range []struct {
		name string
		enc  *ckpt.Encryption
	}{{"plain", nil}, {"sealed", &ckpt.Encryption{Keys: []ckpt.Key{key}}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h164Maintenance(t, tc.enc)
		})
	}
}

func h164Maintenance(t *testing.T, enc *ckpt.Encryption) {
	ctx := context.Background()
	// Under -race one of the six runs, drawn per run (RaceSampleForTest),
	// on the damaged copies: one run on one copy at a time, the detector
	// meets only the store's own goroutines beside it, which the one run
	// meets too; a run's clean copy and every read of both (h164Probes,
	// most of the CPU) cost 5 s there, so the six took 31-38 s a subtest
	// (2.4 s without, four copies). CI's plain command runs all six on
	// every copy.
	keepOp := ckpt.RaceSampleForTest(t, len(h164Ops))
	var ops []h164Op
	for i, op := range h164Ops {
		if keepOp(i) {
			ops = append(ops, op)
		}
	}
	c := h164Setup(t, enc)
	rw := ckpt.Options{Durability: ckpt.NoSync, Encryption: enc}
	// What each run leaves on a clean copy.
	type cleanRun struct {
		keys []string
		want map[string]h164Result
	}
	clean := map[string]cleanRun{}
	for _, op := range ops {
		p := filepath.Join(c.dir, "clean-"+strings.ReplaceAll(op.name, "+", "-")+".db")
		copyFile(t, c.path, p)
		s, err := ckpt.Open(p, rw)
		if err != nil {
			t.Fatal(err)
		}
		out, err := op.run(ctx, s, p, enc)
		if err != nil {
			t.Fatalf("%s on a clean copy: %v", op.name, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		keys, _ := h164Keys(t, out, c.ro)
		clean[op.name] = cleanRun{keys, h164Read(t, out, c.ro, keys)}
	}
	pages, pageSize := h164Pages(t, c.path)
	orig, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	n := h164Env("CKPT_H164_CASES", h164Default(4))
	seed0 := uint64(h164Env("CKPT_H164_SEED", 1))
	tally := map[string][3]int{} // per run: refused, finished with reads refused, finished clean
	for i := range n {
		seed := seed0 + uint64(i)
		dp, what := c.flip(t, orig, pages, pageSize, seed, 1+i%3/2)
		for _, op := range ops {
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("%s: %s: panic: %v", what, op.name, p)
					}
				}()
				p := dp + "-" + strings.ReplaceAll(op.name, "+", "-")
				copyFile(t, dp, p)
				defer os.Remove(p)
				tl := tally[op.name]
				defer func() { tally[op.name] = tl }()
				s, err := ckpt.Open(p, rw)
				if err != nil {
					if !errors.Is(err, ckpt.ErrCorrupt) && !errors.Is(err, ckpt.ErrFormatVersion) { // the marker: above
						t.Errorf("%s: %s: read-write Open: %v (not ErrCorrupt)", what, op.name, err)
					}
					tl[0]++
					return
				}
				out, runErr := op.run(ctx, s, p, enc)
				if cerr := s.Close(); cerr != nil && runErr == nil {
					runErr = cerr
				}
				defer os.Remove(out)
				if runErr != nil {
					if !errors.Is(runErr, ckpt.ErrCorrupt) {
						t.Errorf("%s: %s: %v (not ErrCorrupt)", what, op.name, runErr)
					}
					tl[0]++
					if out != p {
						return // a backup or import that failed leaves nothing to read
					}
				}
				cr := clean[op.name]
				// Every checkpoint either run may have left.
				keys := slices.Clone(cr.keys)
				for _, k := range c.keys {
					if !slices.Contains(keys, k) {
						keys = append(keys, k)
					}
				}
				sort.Strings(keys)
				want := map[string]h164Result{}
				for name, r := range cr.want {
					want[name] = r
				}
				for name, r := range c.want {
					if _, ok := want[name]; !ok && (strings.HasPrefix(name, "GetTuple ") || strings.HasPrefix(name, "Reader ") || strings.HasPrefix(name, "Load ")) && !strings.Contains(name, " latest ") {
						want[name] = r // deleted by the clean run; the damaged one may have kept it
					}
				}
				s, err = ckpt.Open(out, c.ro)
				if err != nil {
					if !errors.Is(err, ckpt.ErrCorrupt) {
						t.Errorf("%s: %s: Open after: %v (not ErrCorrupt)", what, op.name, err)
					}
					tl[1]++
					return
				}
				defer s.Close()
				got := h164Probes(ctx, s, keys)
				if enc != nil && op.name == "CopyThread" {
					// The copies are sealed anew (new nonces): their
					// dumps differ from the clean run's byte for byte.
					for name := range want {
						if strings.HasPrefix(name, "Export") {
							delete(want, name)
						}
					}
				}
				if runErr != nil {
					// A run that failed half-way: only single reads compare.
					for name := range want {
						if !strings.HasPrefix(name, "GetTuple ") && !strings.HasPrefix(name, "Reader ") && !strings.HasPrefix(name, "Load ") || strings.Contains(name, " latest ") {
							delete(want, name)
						}
					}
				}
				refused, missing := h164CompareKept(t, what+": after "+op.name, want, cr.want, got)
				rep, verr := s.Verify(ctx, ckpt.VerifyOptions{})
				if (refused > 0 || missing > 0) && verr == nil && rep.OK() {
					t.Errorf("%s: after %s %d reads refused, %d not found, and Verify reports nothing", what, op.name, refused, missing)
				}
				if refused+missing > 0 {
					tl[1]++
				} else {
					tl[2]++
				}
			}()
		}
		_ = os.Remove(dp)
	}
	for _, op := range ops {
		tl := tally[op.name]
		t.Logf("%s on %d damaged copies: %d failed (ErrCorrupt), %d left reads that refuse (Verify reports them), %d left every read as on a clean copy", op.name, n, tl[0], tl[1], tl[2])
	}
}

// h164CompareKept is h164Compare where a checkpoint the clean run
// deleted (not in kept) may also be not found.
func h164CompareKept(t *testing.T, what string, want, kept map[string]h164Result, got map[string]h164Result) (refused, missing int) {
	t.Helper()
	w := map[string]h164Result{}
	extra := map[string]h164Result{}
	for name, r := range want {
		if _, ok := kept[name]; ok {
			w[name] = r
		} else {
			extra[name] = r
		}
	}
	refused, missing = h164Compare(t, what, w, got)
	for name, r := range extra {
		g := got[name]
		if g.err != nil && errors.Is(g.err, ckpt.ErrNotFound) {
			delete(extra, name) // deleted, as on the clean copy
			_ = r
		}
	}
	r2, m2 := h164Compare(t, what, extra, got)
	return refused + r2, missing + m2
}

// h164UniquePrefix is how much of key k's checkpoint id names it alone
// among keys of its thread and namespace: ids written in one millisecond
// differ in their last characters only (the random part counts up), so a
// fixed prefix named two of them, or one, as the clock fell.
func h164UniquePrefix(keys []string, k string) int {
	i := strings.LastIndexByte(k, 0) + 1
	n := 10 // the time part
	for _, o := range keys {
		j := strings.LastIndexByte(o, 0) + 1
		if o == k || o[:j] != k[:i] {
			continue
		}
		m := 0
		for m < len(o)-j && m < len(k)-i && o[j+m] == k[i+m] {
			m++
		}
		n = max(n, m+1)
	}
	return min(n, len(k)-i)
}
