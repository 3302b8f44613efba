package ckpt

// A seeded hunt for the log scan's resume after damage (wal_scan.go's
// resumeAt, 3c9743c): a store under load in each durability, with bbolt
// held part-way (its commits past a random group wait, as
// h166_held_damage_test.go's) or the real applier (rewinds: the log's
// later passes over earlier ones), is copied as a kill leaves it, or as a
// power cut may (h33's pcutImage over the log's last fsync), and ONE bit
// of ONE byte of its log is flipped: in a record's header, its body, a
// proof (with its padding), past the chain's end, or anywhere past the
// log's header. Oracle:
//
//   - Open, read-only and read-write, refuses with ErrCorrupt or serves a
//     prefix of the saves (in order, each exactly as written, nothing
//     else) holding every save acknowledged as durable;
//   - after RecoverLog the store opens, serves such a prefix, holding
//     every save of a group before the first damaged record of a group
//     the file lacked (when the flip hit one), else every durable one
//     (a power cut's unproven records may go, as Open drops them), and
//     every one the image without the flip held when RecoverStats.KeptAll
//     says nothing was lost; Verify is clean.
//
// CKPT_H166_SEEDS rounds (default 12, a few seconds) from CKPT_H166_SEED
// (default 1), each a few images, three flips each; CKPT_H166_KEEP=dir
// keeps every image and its flipped copy there. The interleaving of the
// syncer and the applier is not seeded: the images differ run to run.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

type h166Write struct {
	thread, id, tok, val string
	durable              bool // acknowledged as durable by the image's moment
}

type h166Hunt struct {
	t *testing.T
	// lenient: the image is a power cut's that took the proof after the
	// log's last record (proofs are not fsync'd, proof.go) and the flip
	// hit a record after the last proof kept: it reads as a torn tail or
	// a power cut's, and acknowledged durable saves in and after it are
	// lost with no refusal (a limit of one fsync per group, as old as
	// proofs: counted, not failed).
	lenient bool
	counts  map[string]int
	fails   map[string][]string
}

func (h *h166Hunt) note(k string) { h.counts[k]++ }

func (h *h166Hunt) fail(cat, what string) {
	h.counts["FAIL "+cat]++
	if len(h.fails[cat]) < 4 {
		h.fails[cat] = append(h.fails[cat], what)
	}
}

func TestH166FlipHunt(t *testing.T) {
	t.Parallel()
	seeds := pcutEnv(t, "CKPT_H166_SEEDS", 12)
	from := pcutEnv(t, "CKPT_H166_SEED", 1)
	h := &h166Hunt{t: t, counts: map[string]int{}, fails: map[string][]string{}}
	for s := from; s < from+seeds; s++ {
		h.round(uint64(s))
	}
	keys := make([]string, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n\t%s: %d", k, h.counts[k])
	}
	t.Logf("%d seeds from %d:%s", seeds, from, b.String())
	cats := make([]string, 0, len(h.fails))
	for c := range h.fails {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Errorf("%s: %d images, e.g.:\n\t%s", c, h.counts["FAIL "+c], strings.Join(h.fails[c], "\n\t"))
	}
}

// h166Run is one store under load and the images taken of it.
type h166Run struct {
	mu     sync.Mutex // held by bbolt's commits, the log's fsyncs and the copies
	path   string
	synced []byte // the log as its last completed fsync began
}

func (p *h166Run) syncLog(f *os.File) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	data, err := os.ReadFile(p.path + walSuffix)
	if err != nil {
		return err
	}
	if p.synced == nil && len(data) >= 24 {
		p.synced = append(bytes.Clone(data[:24]), make([]byte, 24)...)
	}
	if err := engine.Fdatasync(f); err != nil {
		return err
	}
	p.synced = data
	return nil
}

func (h *h166Hunt) round(seed uint64) {
	t := h.t
	rng := rand.New(rand.NewPCG(seed, 0x166))
	mode := []Durability{Sync, NoSync, Async}[seed%3]
	held := (seed/3)%2 == 0
	dir := t.TempDir()
	p := &h166Run{path: filepath.Join(dir, "s.db")}
	release := make(chan struct{})
	holdAt := uint64(2 + rng.IntN(8))
	hooks := engine.Hooks{SyncLog: p.syncLog, LogGrow: []int64{8 << 10, 64 << 10}[rng.IntN(2)],
		CommitBolt: func(tx *bolt.Tx) error {
			if held {
				if m := tx.Bucket(bucketMeta).Get(keyWALApplied); len(m) == 8 && binary.BigEndian.Uint64(m) >= holdAt {
					<-release
				}
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			return tx.Commit()
		}}
	desc := fmt.Sprintf("seed %d (%v, held %v at %d, grow %d)", seed, mode, held, holdAt, hooks.LogGrow)
	s, err := Open(p.path, Options{Durability: mode, tuning: &tuning{hooks: hooks}})
	if err != nil {
		t.Fatalf("%s: Open: %v", desc, err)
	}
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			close(release)
			if err := s.Close(); err != nil {
				t.Errorf("%s: Close: %v", desc, err)
			}
		})
	}
	defer closeAll()
	ctx := context.Background()
	var writes []*h166Write
	images := 2 + rng.IntN(2)
	n := 12 + rng.IntN(20)
	at := map[int]bool{}
	for range images {
		at[4+rng.IntN(n-3)] = true
	}
	img := 0
	for i := 1; i <= n; i++ {
		dur := DurabilityDefault
		if rng.IntN(4) == 0 {
			dur = []Durability{Sync, NoSync, Async}[rng.IntN(3)]
		}
		th := fmt.Sprintf("t%d", rng.IntN(3))
		w := &h166Write{thread: th, tok: fmt.Sprintf("s%d-%d", seed, i), val: huntValue(rng, rng.IntN(6) == 0)}
		wctx := WithWriteOptions(ctx, WriteOptions{Durability: dur})
		id, err := s.Save(wctx, th, map[string]any{"v": w.val}, Metadata{"tok": w.tok})
		if err != nil {
			t.Fatalf("%s: Save %d: %v", desc, i, err)
		}
		w.id = id
		eff := dur
		if eff == DurabilityDefault {
			eff = mode
		}
		w.durable = eff == Sync
		if w.durable {
			for _, e := range writes {
				e.durable = true // the log is a prefix: its fsync covered them
			}
		}
		writes = append(writes, w)
		switch r := rng.IntN(10); {
		case r == 0:
			if err := s.Flush(ctx); err != nil {
				t.Fatalf("%s: Flush: %v", desc, err)
			}
			for _, e := range writes {
				e.durable = true
			}
		case r == 1 && !held:
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatalf("%s: ApplyLog: %v", desc, err)
			}
			for _, e := range writes {
				e.durable = true
			}
		}
		if at[i] {
			img++
			h.image(p, rng, fmt.Sprintf("%s, image %d after save %d", desc, img, i), writes)
		}
	}
	closeAll()
}

// image copies the store now (a kill's image, or a power cut's), flips
// one bit of its log and checks it.
func (h *h166Hunt) image(p *h166Run, rng *rand.Rand, what string, writes []*h166Write) {
	t := h.t
	p.mu.Lock()
	db, err1 := os.ReadFile(p.path)
	log, err2 := os.ReadFile(p.path + walSuffix)
	synced := p.synced
	p.mu.Unlock()
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	ws := make([]h166Write, len(writes))
	durable := 0
	for i, w := range writes {
		ws[i] = *w
		if w.durable {
			durable = i + 1
		}
	}
	if synced != nil && rng.IntN(2) == 0 {
		log, _ = pcutImage(&pcutMoment{synced: synced, log: log}, rng, 2)
		what += " (power cut)"
		h.note("images: power cut")
	} else {
		what += " (kill)"
		h.note("images: kill")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	writeStore(t, base, db, log)
	mark := h166Mark(t, copyStore(t, base))
	// The image without the flip: what it holds is the yardstick.
	l0, ok := h.served(base, ws, durable, true, what+": no flip", nil)
	if !ok {
		return
	}
	spans := engine.RecordSpans(log)
	pc := strings.HasSuffix(what, "(power cut)")
	for k := range 3 {
		h.flip(dir, fmt.Sprintf("%s, flip %d", what, k), db, log, spans, mark, ws, durable, l0, rng, pc)
	}
}

func writeStore(t *testing.T, path string, db, log []byte) {
	t.Helper()
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (h *h166Hunt) flip(dir, what string, db, log []byte, spans []engine.RecordSpan, mark uint64, ws []h166Write, durable, l0 int, rng *rand.Rand, pc bool) {
	t := h.t
	end := int64(24)
	var recs, proofs []engine.RecordSpan
	for _, r := range spans {
		end = r.End
		if r.Proof {
			proofs = append(proofs, r)
		} else {
			recs = append(recs, r)
		}
	}
	region := []string{"header", "body", "proof", "past", "any", "held"}[rng.IntN(6)]
	var off int64 = -1
	switch region {
	case "held":
		var held []engine.RecordSpan
		for _, r := range recs {
			if r.Gen <= mark {
				held = append(held, r)
			}
		}
		if len(held) > 0 {
			r := held[rng.IntN(len(held))]
			off = r.Off + rng.Int64N(r.End-r.Off)
		}
	case "header":
		if len(recs) > 0 {
			r := recs[rng.IntN(len(recs))]
			off = r.Off + rng.Int64N(24)
		}
	case "body":
		if len(recs) > 0 {
			r := recs[rng.IntN(len(recs))]
			off = r.Off + 24 + rng.Int64N(r.End-r.Off-24)
		}
	case "proof":
		if len(proofs) > 0 {
			r := proofs[rng.IntN(len(proofs))]
			off = r.Off + rng.Int64N(r.End-r.Off)
		}
	case "past":
		if end < int64(len(log)) {
			off = end + rng.Int64N(int64(len(log))-end)
		}
	}
	if off < 0 {
		region = "any"
		off = 24 + rng.Int64N(int64(len(log))-24)
	}
	// What the flip hit: a chain record of a group the file lacks (its
	// groups before it must stay), or not (nothing may be lost).
	var lacked *engine.RecordSpan
	for i, r := range spans {
		if off >= r.Off && off < r.End && !r.Proof && r.Gen > mark {
			lacked = &spans[i]
		}
	}
	// The known limit: a power cut took the proof after the log's last
	// record (proofs are not fsync'd) and the flip hit a record after the
	// last proof kept (the records that proof vouched for, NoSync groups
	// a Flush covered): it reads as a torn tail, or a power cut's.
	tail := int64(24)
	for _, r := range spans {
		if r.Proof {
			tail = r.End
		}
	}
	if n := len(spans); pc && n > 0 && !spans[n-1].Proof && off >= tail && off < spans[n-1].End {
		h.lenient = true
		defer func() { h.lenient = false }()
	}
	hit := region + ": none lost"
	if lacked != nil {
		hit = region + ": a lacked group's record"
	}
	h.note("flips: " + hit)
	bad := bytes.Clone(log)
	bad[off] ^= 1 << rng.IntN(8)
	if keep := os.Getenv("CKPT_H166_KEEP"); keep != "" {
		d := filepath.Join(keep, fmt.Sprintf("%d", off)+"-"+strings.ReplaceAll(what[:strings.Index(what, " (")], " ", ""))
		if err := os.MkdirAll(d, 0o700); err == nil {
			writeStore(t, filepath.Join(d, "base.db"), db, log)
			writeStore(t, filepath.Join(d, "bad.db"), db, bad)
			_ = os.WriteFile(filepath.Join(d, "what"), []byte(fmt.Sprintf("%s: bit at %d\n", what, off)), 0o600)
		}
	}
	what = fmt.Sprintf("%s: bit flipped at %d (%s; mark %d, log %d bytes, chain ends %d)", what, off, hit, mark, len(log), end)
	// keep: how many saves must survive recovery.
	keep := durable
	if lacked != nil {
		cut := bytes.Clone(log)
		clear(cut[lacked.Off:])
		p := filepath.Join(t.TempDir(), "cut.db")
		writeStore(t, p, db, cut)
		l1, ok := h.served(p, ws, 0, true, what+": the log cut at the damaged record", nil)
		if !ok {
			return
		}
		keep = min(l1, l0)
	}
	path := filepath.Join(t.TempDir(), "s.db")
	writeStore(t, path, db, bad)
	if _, ok := h.served(copyStore(t, path), ws, durable, true, what+": read-only Open", nil); ok {
		h.note("read-only Open: served")
	}
	rw := copyStore(t, path)
	opened := false
	if _, ok := h.served(rw, ws, durable, false, what+": Open", &opened); ok && opened {
		h.note("Open: served")
		return
	}
	st, err := RecoverLog(path, Options{})
	if err != nil {
		h.fail("RecoverLog failed", fmt.Sprintf("%s: %v", what, err))
		return
	}
	h.note(fmt.Sprintf("recovered: kept all %v", st.KeptAll))
	var after bool
	got, ok := h.served(path, ws, 0, false, what+": after RecoverLog", &after)
	if !ok {
		return
	}
	if !after {
		h.fail("Open refused after RecoverLog", what)
		return
	}
	if got < keep && h.lenient {
		h.note("known limit: RecoverLog lost durable saves (a power cut took the last proof, the flip hit a record it vouched for)")
	} else if got < keep {
		h.fail("RecoverLog lost acknowledged saves", fmt.Sprintf("%s: %d saves served, %d must be (%d in the image without the flip): %+v", what, got, keep, l0, st))
	}
	if st.KeptAll && got != l0 {
		h.fail("RecoverLog says nothing was lost, and lost saves", fmt.Sprintf("%s: %d saves served, the image without the flip held %d: %+v", what, got, l0, st))
	}
	if lacked == nil && got < l0 {
		h.note("recovered: fewer than without the flip (a power cut's unproven records)")
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		h.fail("read-only Open refused after RecoverLog", fmt.Sprintf("%s: %v", what, err))
		return
	}
	defer r.Close()
	rep, err := r.Verify(context.Background(), VerifyOptions{})
	if err != nil || len(rep.Problems) != 0 {
		h.fail("Verify after RecoverLog", fmt.Sprintf("%s: %v %v", what, err, rep))
	}
}

// served opens the store at path (read-only, or read-write and closed
// again) and checks that it serves a prefix of ws, each save as written
// and nothing else, holding at least the first min saves. A refusal
// wrapping ErrCorrupt is no failure unless opened is nil (the store
// must open); opened says whether it did. It returns the prefix's length.
func (h *h166Hunt) served(path string, ws []h166Write, min int, ro bool, what string, opened *bool) (int, bool) {
	ctx := context.Background()
	s, err := Open(path, Options{ReadOnly: ro})
	if err != nil {
		if opened == nil && !ro {
			h.fail("Open refused", fmt.Sprintf("%s: %v", what, err))
			return 0, false
		}
		if opened == nil && ro && !strings.HasSuffix(what, "read-only Open") {
			h.fail("read-only Open refused", fmt.Sprintf("%s: %v", what, err))
			return 0, false
		}
		if !errors.Is(err, ErrCorrupt) {
			h.fail("Open failed, not ErrCorrupt", fmt.Sprintf("%s: %v", what, err))
		}
		return 0, opened != nil
	}
	if opened != nil {
		*opened = true
	}
	defer func() {
		if err := s.Close(); err != nil {
			h.fail("Close failed", fmt.Sprintf("%s: %v", what, err))
		}
	}()
	n, gap := 0, false
	for i, w := range ws {
		snap, err := s.Load(ctx, w.thread, w.id)
		if errors.Is(err, ErrNotFound) {
			gap = true
			continue
		}
		if err != nil {
			h.fail("Load failed", fmt.Sprintf("%s: save %d: %v", what, i+1, err))
			return 0, false
		}
		var v string
		if gap {
			h.fail("not a prefix of the saves", fmt.Sprintf("%s: save %d served after a missing one", what, i+1))
			return 0, false
		}
		if err := snap.Decode("v", &v); err != nil || v != w.val || snap.Metadata["tok"] != w.tok {
			h.fail("a save served wrong", fmt.Sprintf("%s: save %d: %v %q %v", what, i+1, err, v, snap.Metadata))
			return 0, false
		}
		n++
	}
	total := 0
	for _, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			h.fail("List failed", fmt.Sprintf("%s: %v", what, err))
			return 0, false
		}
		total++
	}
	if total != n {
		h.fail("checkpoints no save wrote", fmt.Sprintf("%s: %d listed, %d saves served", what, total, n))
		return 0, false
	}
	if n < min && h.lenient {
		h.note("known limit: Open served without durable saves (a power cut took the last proof, the flip hit a record it vouched for)")
	} else if n < min {
		h.fail("acknowledged durable saves lost", fmt.Sprintf("%s: %d served, %d durable", what, n, min))
		return 0, false
	}
	return n, true
}

// h166Mark is the applied mark of the closed store file at path (0 when
// bbolt took no group yet).
func h166Mark(t *testing.T, path string) uint64 {
	t.Helper()
	var m uint64
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			if v := b.Get(keyWALApplied); len(v) == 8 {
				m = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return m
}
