package ckpt

// Hangs and runaway memory on damaged files (h30-hang): a realistic store
// (threads with namespaces, pending writes, growing lists stored as
// deltas, large values on overflow pages, forks, a copied thread, history
// GC took) is closed, and each round damages a copy of it, then runs every
// entry point on the copy under a watchdog: an op that does not return in
// time, or a heap that grows past a bound, fails the round with every
// goroutine's stack. Errors are fine (damage may be refused anywhere); a
// panic, a hang or a runaway is not. The damage targets what bbolt and the
// records do not check: key bytes and bucket names (an order broken, a
// name changed), leaf and branch headers (sizes, positions, page ids,
// counts), the first bytes of values (record versions, length prefixes,
// varints), and anywhere.
//
// The test runs huntHangRounds rounds (24; 6 under -short or -race);
// CKPT_HUNT_ROUNDS=N runs N, CKPT_HUNT_SEED=S starts the seeds at S; a
// failing round keeps its damaged file (the message names it), which
// CKPT_HUNT_FILE=F with CKPT_HUNT_ONLY=seed runs again;
// CKPT_HUNT_DAMAGE=name (key-swap, leaf-key, ...) damages one way only.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hangFixture writes the store the rounds damage and returns its path
// and the configs of some checkpoints in it (to read by id).
func hangFixture(t testing.TB, dir string) (string, []Config) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "hang.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []Config
	big := strings.Repeat("large value on overflow pages ", 400) // ~12 KB
	// Put threads: three namespaces each, a growing list, a scalar
	// changed every other step, pending writes on each checkpoint.
	for i := range 3 {
		thread := fmt.Sprintf("put-%d", i)
		for _, ns := range []string{"", "sub", "sub:inner|deep"} {
			cfg := Config{ThreadID: thread, CheckpointNS: ns}
			var items []any
			note := ""
			for step := range 7 {
				ver := "v" + strconv.Itoa(step+1)
				nv := map[string]string{"log": ver}
				items = append(items, fmt.Sprintf("item %s/%s/%d", thread, ns, step))
				if step%2 == 0 {
					note = fmt.Sprintf("note %d", step)
					nv["note"] = ver
				}
				vals := map[string]any{"log": append([]any(nil), items...), "note": note}
				if step == 3 {
					nv["big"] = ver
					vals["big"] = big + thread
				}
				cp := Checkpoint{ChannelValues: vals, ChannelVersions: nv, VersionsSeen: map[string]map[string]string{"agent": {"log": ver}}}
				next, err := s.Put(ctx, cfg, cp, Metadata{"step": step, "node": "n" + strconv.Itoa(step%3)}, nv)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.PutWrites(ctx, next, []Write{{Channel: "inbox", Value: "w" + ver}, {Channel: "out", Value: []any{1, 2, 3}}}, "task-"+ver, "path"); err != nil {
					t.Fatal(err)
				}
				cfg = next
				cfgs = append(cfgs, next)
			}
		}
	}
	// Save threads: a growing message list (append-deltas, folded), a
	// fork from an older checkpoint, a big value now and then.
	for i := range 4 {
		thread := fmt.Sprintf("save-%d", i)
		var msgs []any
		var ids []string
		for step := range 12 {
			msgs = append(msgs, map[string]any{"role": "user", "content": fmt.Sprintf("message %d of %s", step, thread)})
			state := map[string]any{"messages": msgs, "turn": step}
			if step%5 == 0 {
				state["doc"] = big + strconv.Itoa(step)
			}
			c := ctx
			if step == 8 {
				c = WithWriteOptions(ctx, WriteOptions{Parent: ids[3]})
				msgs = msgs[:2]
				state["messages"] = msgs
			}
			id, err := s.Save(c, thread, state, Metadata{"step": step, "source": "loop"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			cfgs = append(cfgs, Config{ThreadID: thread, CheckpointID: id})
		}
	}
	if err := s.CopyThread(ctx, "save-1", "copy-of-save-1", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 5}); err != nil {
		t.Fatal(err)
	}
	// More history after the GC, in freed pages.
	for step := range 4 {
		if _, err := s.Save(ctx, "save-0", map[string]any{"messages": []any{"after gc", step}, "turn": 100 + step}, Metadata{"step": 100 + step}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteThread(ctx, "save-3"); err != nil {
		t.Fatal(err)
	}
	// An import a killed process left unfinished: its threads written,
	// each marked in the import's bucket and counted in meta/"imports" as
	// Import does (a read-write Open rolls it back; a read-only one hides
	// the threads).
	for i := range 3 {
		for step := range 3 {
			if _, err := s.Save(ctx, fmt.Sprintf("imp-%d", i), map[string]any{"messages": []any{"imported", step}}, Metadata{"step": step}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.maintain(ctx, func(w writer) error {
		return markImport(w, [idLen]byte{0x30}, []string{"imp-0", "imp-1", "imp-2"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, cfgs
}

// boltPage is a page of a bbolt file as the damage sees it.
type boltPage struct {
	off      int // byte offset of the page in the file
	flags    uint16
	count    int
	overflow int
}

func boltPages(data []byte) []boltPage {
	ps := os.Getpagesize()
	var out []boltPage
	for p := 2; (p+1)*ps <= len(data); p++ {
		b := data[p*ps:]
		pg := boltPage{off: p * ps, flags: binary.LittleEndian.Uint16(b[8:]), count: int(binary.LittleEndian.Uint16(b[10:])), overflow: int(binary.LittleEndian.Uint32(b[12:]))}
		if pg.flags == 0x01 || pg.flags == 0x02 {
			out = append(out, pg)
		}
		if pg.overflow > 0 && pg.overflow < len(data)/ps {
			p += pg.overflow
		}
	}
	return out
}

// boltElem is one element of a page: where its key and value lie in the
// file (value empty for a branch page).
type boltElem struct {
	keyOff, keyLen, valOff, valLen int
	hdrOff                         int
	inline                         bool
}

// boltElems lists the elements of pg, and those of the inline buckets
// its leaf elements hold (a small bucket's page inside its value).
func boltElems(data []byte, pg boltPage) []boltElem {
	var out []boltElem
	for _, e := range boltPageElems(data, pg) {
		out = append(out, e)
		if e.inline {
			in := boltPage{off: e.valOff + 16, flags: binary.LittleEndian.Uint16(data[e.valOff+16+8:]), count: int(binary.LittleEndian.Uint16(data[e.valOff+16+10:]))}
			if in.flags == 0x02 {
				out = append(out, boltPageElems(data, in)...)
			}
		}
	}
	return out
}

func boltPageElems(data []byte, pg boltPage) []boltElem {
	var out []boltElem
	for i := range pg.count {
		h := pg.off + 16 + 16*i
		if h+16 > len(data) {
			break
		}
		var e boltElem
		e.hdrOff = h
		if pg.flags == 0x02 {
			pos := int(binary.LittleEndian.Uint32(data[h+4:]))
			e.keyLen = int(binary.LittleEndian.Uint32(data[h+8:]))
			e.valLen = int(binary.LittleEndian.Uint32(data[h+12:]))
			e.keyOff = h + pos
			e.valOff = e.keyOff + e.keyLen
			// A nested bucket whose root is 0 is inline: its page
			// follows the bucket header in the value.
			e.inline = binary.LittleEndian.Uint32(data[h:])&1 != 0 && e.valLen >= 32 && e.valOff+32 <= len(data) && binary.LittleEndian.Uint64(data[e.valOff:]) == 0
		} else {
			pos := int(binary.LittleEndian.Uint32(data[h:]))
			e.keyLen = int(binary.LittleEndian.Uint32(data[h+4:]))
			e.keyOff = h + pos
		}
		if e.keyOff+e.keyLen+e.valLen > len(data) || e.keyLen < 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// hangDamage is one way to damage the file; it edits b in place and
// says what it did.
type hangDamage struct {
	name string
	do   func(rng *rand.Rand, b []byte) string
}

// someByte changes b[i]: a flip of random bits, or 0x00 or 0xff (a key
// that sorts first or last, a length that is zero or huge).
func someByte(rng *rand.Rand, b []byte, i int) string {
	old := b[i]
	switch rng.IntN(4) {
	case 0:
		b[i] = 0
	case 1:
		b[i] = 0xff
	default:
		b[i] ^= byte(1 + rng.IntN(255))
	}
	return fmt.Sprintf("byte %d: %#02x -> %#02x", i, old, b[i])
}

func randomElem(rng *rand.Rand, b []byte, leaf, branch bool) (boltElem, bool) {
	var pages []boltPage
	for _, pg := range boltPages(b) {
		if pg.count > 0 && (leaf && pg.flags == 0x02 || branch && pg.flags == 0x01) {
			pages = append(pages, pg)
		}
	}
	if len(pages) == 0 {
		return boltElem{}, false
	}
	pg := pages[rng.IntN(len(pages))]
	es := boltElems(b, pg)
	if len(es) == 0 {
		return boltElem{}, false
	}
	return es[rng.IntN(len(es))], true
}

var hangDamages = []hangDamage{
	{"anywhere", func(rng *rand.Rand, b []byte) string {
		ps := os.Getpagesize()
		return someByte(rng, b, 2*ps+rng.IntN(len(b)-2*ps))
	}},
	{"page-header", func(rng *rand.Rand, b []byte) string {
		pgs := boltPages(b)
		pg := pgs[rng.IntN(len(pgs))]
		return someByte(rng, b, pg.off+8+rng.IntN(8))
	}},
	{"elem-header", func(rng *rand.Rand, b []byte) string {
		e, ok := randomElem(rng, b, true, true)
		if !ok {
			return "none"
		}
		return someByte(rng, b, e.hdrOff+rng.IntN(16))
	}},
	{"leaf-key", func(rng *rand.Rand, b []byte) string {
		e, ok := randomElem(rng, b, true, false)
		if !ok || e.keyLen == 0 {
			return "none"
		}
		return someByte(rng, b, e.keyOff+rng.IntN(e.keyLen))
	}},
	{"branch-key", func(rng *rand.Rand, b []byte) string {
		e, ok := randomElem(rng, b, false, true)
		if !ok || e.keyLen == 0 {
			return "none"
		}
		return someByte(rng, b, e.keyOff+rng.IntN(e.keyLen))
	}},
	{"key-prefix", func(rng *rand.Rand, b []byte) string {
		// The first bytes of a key: its length prefixes (len16(ns),
		// len16(thread) after an id).
		e, ok := randomElem(rng, b, true, false)
		if !ok || e.keyLen == 0 {
			return "none"
		}
		i := rng.IntN(min(e.keyLen, 20))
		return someByte(rng, b, e.keyOff+i)
	}},
	{"value-head", func(rng *rand.Rand, b []byte) string {
		// Record versions, flags, varint counts, lengths; a nested
		// bucket's header (root page id, sequence).
		e, ok := randomElem(rng, b, true, false)
		if !ok || e.valLen == 0 {
			return "none"
		}
		return someByte(rng, b, e.valOff+rng.IntN(min(e.valLen, 20)))
	}},
	{"key-swap", func(rng *rand.Rand, b []byte) string {
		// Two keys of one leaf page swap bytes: the order broken, every
		// key still well formed.
		for range 20 {
			pgs := boltPages(b)
			pg := pgs[rng.IntN(len(pgs))]
			if pg.flags != 0x02 || pg.count < 2 {
				continue
			}
			es := boltElems(b, pg)
			if len(es) < 2 {
				continue
			}
			i := rng.IntN(len(es) - 1)
			j := i + 1 + rng.IntN(len(es)-i-1)
			n := min(es[i].keyLen, es[j].keyLen)
			ki, kj := b[es[i].keyOff:es[i].keyOff+n], b[es[j].keyOff:es[j].keyOff+n]
			tmp := bytes.Clone(ki)
			copy(ki, kj)
			copy(kj, tmp)
			return fmt.Sprintf("page %d: keys %d and %d swap %d bytes", pg.off/os.Getpagesize(), i, j, n)
		}
		return "none"
	}},
}

// hangOp is one entry point run on a damaged copy.
type hangOp struct {
	name string
	do   func(ctx context.Context, path string, cfgs []Config) error
}

func drainList(seq func(func(*Tuple, error) bool)) error {
	var err error
	n := 0
	seq(func(tp *Tuple, e error) bool {
		n++
		if e != nil {
			err = e
			return false
		}
		return true
	})
	return err
}

// huntMode is how a round opens its stores: with tune (nil: the
// defaults; small pages and batches make every paging walk seek again
// often), and without the write-ahead log when noWAL is set (writes go to
// bbolt at once, with no overlay in front of it). The ops find it in
// their context, so hunts running in parallel keep their own.
type huntMode struct {
	tune  *tuning
	noWAL bool
	seed  uint64 // the round's seed, for ops that draw their own
}

type huntModeKey struct{}

func huntModeOf(ctx context.Context) huntMode {
	m, _ := ctx.Value(huntModeKey{}).(huntMode)
	return m
}

func withHangStore(ctx context.Context, path string, ro bool, fn func(s *Store) error) error {
	m := huntModeOf(ctx)
	s, err := Open(path, Options{ReadOnly: ro, LockTimeout: time.Second, tuning: m.tune, NoWAL: m.noWAL})
	if err != nil {
		return err
	}
	err = fn(s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// hangReads runs every read on s.
func hangReads(ctx context.Context, s *Store, cfgs []Config) {
	_, _ = s.Verify(ctx, VerifyOptions{})
	_ = drainList(s.List(ctx, ListOptions{}))
	_ = drainList(s.List(ctx, ListOptions{Limit: 3}))
	_ = drainList(s.List(ctx, ListOptions{Filter: map[string]any{"node": "n1"}}))
	threads := []string{"save-3"} // deleted
	for _, c := range cfgs {
		if !slices.Contains(threads, c.ThreadID) {
			threads = append(threads, c.ThreadID)
		}
	}
	for _, th := range threads {
		_ = drainList(s.List(ctx, ListOptions{ThreadID: th}))
		_ = drainList(s.List(ctx, ListOptions{ThreadID: th, Namespace: NS("sub")}))
		_ = drainList(s.List(ctx, ListOptions{ThreadID: th, Namespace: NS(""), Limit: 2}))
		_, _ = s.GetTuple(ctx, Config{ThreadID: th})
		_, _ = s.GetTuple(ctx, Config{ThreadID: th, CheckpointNS: "sub:inner|deep"})
		_, _ = s.Latest(ctx, th)
		for _, err := range s.History(ctx, th, ListOptions{}) {
			if err != nil {
				break
			}
		}
		_, _ = s.Branches(ctx, th)
		_, _ = s.Thread(ctx, th)
	}
	rd := s.NewReader()
	for i, c := range cfgs {
		if i%3 != 0 {
			continue
		}
		_, _ = s.GetTuple(ctx, c)
		_, _ = rd.GetTuple(ctx, c)
		_ = drainList(s.List(ctx, ListOptions{ThreadID: c.ThreadID, Before: c.CheckpointID, Limit: 4}))
		if tp, err := s.GetTuple(ctx, c); err == nil {
			for ch := range tp.Checkpoint.ChannelValues {
				var v any
				_ = tp.Decode(ch, &v)
			}
		}
	}
	for _, err := range s.Threads(ctx) {
		if err != nil {
			break
		}
	}
	_, _ = s.Stats(ctx)
	_, _ = s.Export(ctx, io.Discard, ExportOptions{})
}

var hangOps = []hangOp{
	{"read-only reads", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, true, func(s *Store) error { hangReads(ctx, s, cfgs); return nil })
	}},
	{"read-only export+import", func(ctx context.Context, path string, cfgs []Config) error {
		var dump bytes.Buffer
		if err := withHangStore(ctx, path, true, func(s *Store) error {
			_, err := s.Export(ctx, &dump, ExportOptions{Threads: []string{"put-1", "save-0"}})
			return err
		}); err != nil {
			return err
		}
		dst := path + ".imported"
		return withHangStore(ctx, dst, false, func(s *Store) error { _, err := s.Import(ctx, &dump, ImportOptions{}); return err })
	}},
	{"read-write reads", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, false, func(s *Store) error { hangReads(ctx, s, cfgs); return nil })
	}},
	{"writes", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, false, func(s *Store) error {
			_, _ = s.Save(ctx, "save-0", map[string]any{"messages": []any{"after gc", 0, "more"}, "turn": 7}, Metadata{"step": 200})
			_, _ = s.Save(ctx, "save-2", map[string]any{"messages": []any{"new"}}, nil)
			if tp, err := s.GetTuple(ctx, Config{ThreadID: "put-1", CheckpointNS: "sub"}); err == nil {
				_, _ = s.Put(ctx, tp.Config, Checkpoint{ChannelValues: map[string]any{"log": []any{"x"}}, ChannelVersions: map[string]string{"log": "v99"}}, nil, map[string]string{"log": "v99"})
				_ = s.PutWrites(ctx, tp.Config, []Write{{Channel: "inbox", Value: "late"}}, "task-late", "")
			}
			_ = s.CopyThread(ctx, "put-0", "copy-put-0", CopyOptions{})
			_ = s.CopyThread(ctx, "save-2", "copy-of-save-1", CopyOptions{Replace: true})
			return nil
		})
	}},
	{"gc", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, false, func(s *Store) error {
			_, _ = s.GC(ctx, Policy{KeepLast: 2, DryRun: true})
			_, _ = s.GC(ctx, Policy{KeepLast: 2})
			_, _ = s.GC(ctx, Policy{MaxAge: time.Nanosecond})
			_ = s.Prune(ctx, []string{"put-2", "save-1"}, PruneKeepLatest)
			_ = s.DeleteForRuns(ctx, []string{"run-x"})
			return nil
		})
	}},
	{"delete", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, false, func(s *Store) error {
			_ = s.DeleteThread(ctx, "put-1")
			_ = s.DeleteThread(ctx, "copy-of-save-1")
			_, _ = s.GC(ctx, Policy{ThreadTTL: time.Nanosecond})
			return nil
		})
	}},
	{"compact", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, false, func(s *Store) error {
			_, err := s.Compact(ctx, nil)
			if err == nil {
				hangReads(ctx, s, cfgs)
			}
			return err
		})
	}},
	{"recover", func(ctx context.Context, path string, cfgs []Config) error {
		_, err := RecoverLog(path, Options{LockTimeout: time.Second})
		return err
	}},
	{"backup", func(ctx context.Context, path string, cfgs []Config) error {
		return withHangStore(ctx, path, true, func(s *Store) error { return s.BackupFile(ctx, path+".bak") })
	}},
}

// heapBytes is the live heap as runtime/metrics sees it (no stop of the
// world, unlike ReadMemStats).
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// hangWatch runs fn, failing t with every goroutine's stack when fn does
// not return within limit or the heap passes maxHeap while it runs; what
// names the step for the message. It returns the highest heap seen.
func hangWatch(t *testing.T, what func() string, limit time.Duration, maxHeap uint64, keep func() string, fn func()) uint64 {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		fn()
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
	var peak uint64
	dump := func() string {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		return b.String()
	}
	for {
		select {
		case p := <-done:
			if p != nil {
				t.Fatalf("%s: panic: %v (%s)", what(), p, keep())
			}
			return peak
		case <-tick.C:
			h := heapBytes()
			if h > maxHeap {
				// The heap is the process's: the package's parallel tests
				// allocate beside this one, and what it counts includes
				// their garbage not yet collected (one such run passed
				// 256 MB once). What a damaged length would make fn hold
				// (gigabytes) is live: count what a collection leaves.
				runtime.GC()
				h = heapBytes()
			}
			peak = max(peak, h)
			if h > maxHeap {
				t.Fatalf("%s: heap %d MB past %d MB (%s)\n%s", what(), h>>20, maxHeap>>20, keep(), dump())
			}
		case <-deadline:
			t.Fatalf("%s: did not return in %v (%s)\n%s", what(), limit, keep(), dump())
		}
	}
}

func huntHangRounds() (rounds int, seed uint64) { return huntRoundsFromEnv(24, 6, 30) }

// huntRoundsFromEnv is def rounds (short under -short or -race) from seed
// defSeed, unless CKPT_HUNT_ROUNDS and CKPT_HUNT_SEED say otherwise.
func huntRoundsFromEnv(def, short int, defSeed uint64) (rounds int, seed uint64) {
	rounds = def
	if testing.Short() || raceBuild {
		rounds = short
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	seed = defSeed
	if v, err := strconv.ParseUint(os.Getenv("CKPT_HUNT_SEED"), 10, 64); err == nil {
		seed = v
	}
	return rounds, seed
}

// hangFix is a closed store the rounds damage copies of.
type hangFix struct {
	name string
	data []byte
	cfgs []Config // checkpoints to read by id
	// damage, if set, damages b in place of hangDamages (and says how).
	damage func(rng *rand.Rand, b []byte) string
}

// hangFixtures returns the store hangFixture writes, and the format 2
// file of testdata (its records carry no checksum: a read-only Open
// reads damaged bytes as they are, a read-write one upgrades it first).
func hangFixtures(t *testing.T, dir string) []hangFix {
	path, cfgs := hangFixture(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join("testdata", "format2", "store.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "format2.db")
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	var oldCfgs []Config
	if err := withHangStore(context.Background(), p, true, func(s *Store) error {
		for tp, err := range s.List(context.Background(), ListOptions{}) {
			if err != nil {
				return err
			}
			oldCfgs = append(oldCfgs, tp.Config)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return []hangFix{{name: "store", data: data, cfgs: cfgs}, {name: "format2", data: old, cfgs: oldCfgs}}
}

func TestHuntHangsOnDamagedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fixes := hangFixtures(t, dir)
	rounds, seed := huntHangRounds()
	huntDamagedRounds(t, dir, rounds, seed, func(r int) hangFix {
		if r%3 == 2 {
			return fixes[1]
		}
		return fixes[0]
	}, func(hangFix) []hangOp { return hangOps })
}

// huntDamagedRounds runs rounds rounds from seed: each damages a copy of
// the fixture fixOf gives for it, in the ways hangDamages offers, picks a
// tuning and whether the log is on, and runs every op opsFor gives for
// the fixture on a fresh copy of the damaged bytes under hangWatch.
func huntDamagedRounds(t *testing.T, dir string, rounds int, seed uint64, fixOf func(r int) hangFix, opsFor func(hangFix) []hangOp) {
	t.Helper()
	ctx := context.Background()
	// CKPT_HUNT_ONLY=S runs the round of seed S alone (its damage and
	// modes as in the run that printed it, with the same CKPT_HUNT_SEED).
	only, _ := strconv.ParseUint(os.Getenv("CKPT_HUNT_ONLY"), 10, 64)
	limit := 60 * time.Second
	const maxHeap = 256 << 20 // the ops need about 20 MB
	var peak uint64
	var peakWhat string
	failed := map[string]int{}
	start := time.Now()
	for r := range rounds {
		rseed := seed + uint64(r)
		if only != 0 && rseed != only {
			continue
		}
		rng := rand.New(rand.NewPCG(rseed, 30))
		fix := fixOf(r)
		b := bytes.Clone(fix.data)
		did := []string{fix.name}
		n := 1
		if rng.IntN(4) == 0 {
			n = 2 + rng.IntN(4)
		}
		for range n {
			if fix.damage != nil {
				did = append(did, fix.damage(rng, b))
				continue
			}
			d := hangDamages[rng.IntN(len(hangDamages))]
			if only := os.Getenv("CKPT_HUNT_DAMAGE"); only != "" {
				for _, o := range hangDamages {
					if o.name == only {
						d = o
					}
				}
			}
			did = append(did, d.name+" "+d.do(rng, b))
		}
		if f := os.Getenv("CKPT_HUNT_FILE"); f != "" {
			// A damaged file a failing round kept: its round again
			// (CKPT_HUNT_ONLY and CKPT_HUNT_SEED say which).
			var err error
			if b, err = os.ReadFile(f); err != nil {
				t.Fatal(err)
			}
			did = append(did, "file "+f)
		}
		mode := huntMode{seed: rseed}
		if r%2 == 1 {
			mode.tune = &tuning{planLimit: 3, maxBatchJobs: 2, gcTxKeys: 12, namePage: 2, importBatchRecords: 5, importBatchBytes: 4 << 10, upgradeStepRecords: 4, upgradeStepScan: 16}
			did = append(did, "small tuning")
		}
		if mode.noWAL = r%4 >= 2; mode.noWAL {
			did = append(did, "no log")
		}
		rctx := context.WithValue(ctx, huntModeKey{}, mode)
		for _, op := range opsFor(fix) {
			p := filepath.Join(dir, "round.db")
			for _, f := range []string{p, p + "-wal", p + ".imported", p + ".imported-wal", p + ".bak"} {
				_ = os.Remove(f)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			what := func() string {
				return fmt.Sprintf("seed %d (%s), op %s", rseed, strings.Join(did, "; "), op.name)
			}
			// The fixture's bytes differ from run to run (ids, times):
			// a failing round keeps its damaged file to run again.
			keep := func() string {
				f := filepath.Join(os.TempDir(), fmt.Sprintf("ckpt-hunt-%d.db", rseed))
				if err := os.WriteFile(f, b, 0o600); err != nil {
					return err.Error()
				}
				return "damaged file kept as " + f
			}
			h := hangWatch(t, what, limit, maxHeap, keep, func() {
				if err := op.do(rctx, p, fix.cfgs); err != nil {
					if wrong := (*huntWrong)(nil); errors.As(err, &wrong) {
						t.Errorf("%s: %v (%s)", what(), err, keep())
					}
					failed[op.name]++
					if os.Getenv("CKPT_HUNT_VERBOSE") != "" {
						t.Logf("%s: %v", what(), err)
					}
				}
			})
			if h > peak {
				peak, peakWhat = h, what()
			}
		}
		runtime.GC()
	}
	t.Logf("%d rounds from seed %d in %v; ops refused: %v; peak heap %d MB (%s)", rounds, seed, time.Since(start).Round(time.Millisecond), failed, peak>>20, peakWhat)
}
