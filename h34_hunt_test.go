package ckpt

// A process-level kill-and-damage hunt (h34). A child process (this test
// binary, TestH34KillChild) writes through the whole API in every
// durability: Save, Put and PutWrites with Sync, NoSync, Async and the
// store's default (itself Sync, NoSync or Async), some made to fail (a
// stale IfHead, a reused version, a missing checkpoint), beside Flush,
// ApplyLog, GC, Prune and Compact calls, and, in some rounds, the
// background sweeper. It prints, one line per event and in the order
// they happened (one mutex), every call's start (with what it writes)
// and its outcome. The parent SIGKILLs it at a random moment and builds
// images from the files it left: the log as it is, or with one byte of a
// record flipped (the last record that holds a group too: the proof after
// it says it was durable), or a 512-byte sector or 4 KiB block of a record
// zeroed (kinds sector and block; the first holds the log's header too:
// -header, TestH34ZeroedLogHeaderSectorNeverLosesAcknowledgedWrites), the
// one holding the last record's end among them; one reaching the chain's
// last record (-last) is held to the same: a proof's second copy a block
// on (log version 5) says the record before it was durable, where a
// version 4 log read such an image as a torn tail (counted apart then, 1
// of 8 lost a write). Each
// image is opened read-only, then read-write, and must either be refused
// with ErrCorrupt (never when undamaged) or:
//
//   - hold every write acknowledged as durable (a Sync write that returned
//     nil; a NoSync or Async one that returned before a Flush, ApplyLog or
//     Sync write began that returned nil), exactly, unless retention may
//     have removed it; undamaged, every NoSync write that returned nil too
//     (a kill never loses one);
//   - show no write that returned an error, and nothing no call wrote;
//   - show no later write of a writer without an earlier one;
//   - pass Verify.
//
// A refused image is recovered (RecoverLog) and opened again: it must
// open, hold every acknowledged durable write whose marker appears nowhere
// in the log from the damaged record on (the records before the damage,
// or bbolt), and show nothing wrong, as above.
//
// The file lives on over CKPT_H34_KILLS kills (default 2): each child
// opens what the last one left. Rounds: CKPT_H34_ROUNDS (default 1, two
// kills, a few seconds; under -race the kills come within 60 ms), seed
// CKPT_H34_SEED (default 1; round r uses seed+r; the moments of the kills
// are not reproducible, the seed draws what is written and the damage).
// CKPT_H34_IMAGES images per kill (default 4). CKPT_H34_KEEP=dir keeps
// the files of failing images.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/internal/testchild"
	"github.com/ckpt-go/ckpt/saverkit"
)

const (
	h34ChildEnv = "CKPT_H34_CHILD" // the child's file
	h34SeedEnv  = "CKPT_H34_CHILD_SEED"
	h34IncEnv   = "CKPT_H34_CHILD_INC" // the incarnation: threads are named by it
)

// h34Line is one event of the child.
type h34Line struct {
	Ev string `json:"ev"` // S: a write began; E: it returned; BS/BE: Flush or ApplyLog; RS/RE: GC or Prune; AE: an Async error; X: anything else
	// S
	Tok        string            `json:"tok,omitempty"`
	Kind       int               `json:"kind,omitempty"` // pcutKind
	Thread     string            `json:"th,omitempty"`
	NS         string            `json:"ns,omitempty"`
	Parent     string            `json:"parent,omitempty"`
	ID         string            `json:"id,omitempty"` // PutWrites: its checkpoint; E: the id written
	Dur        int               `json:"dur,omitempty"`
	ExpectFail bool              `json:"xf,omitempty"`
	Save       *h34SaveState     `json:"save,omitempty"`
	Put        map[string]string `json:"put,omitempty"`
	Writes     []Write           `json:"writes,omitempty"`
	// E, BE, RE
	Err string `json:"err,omitempty"`
	// BS/RS
	N    int    `json:"n,omitempty"`    // the op's number (BS..BE, RS..RE)
	Keep int    `json:"keep,omitempty"` // RS: what it keeps of each thread and namespace
	What string `json:"what,omitempty"`
}

// h34SaveState is a Save's state, typed (pcutDiff decodes by type).
type h34SaveState struct {
	Msgs []string `json:"msgs"`
	N    int      `json:"n"`
	A    *string  `json:"a,omitempty"`
	Big  *string  `json:"big,omitempty"`
}

func (s *h34SaveState) state() map[string]any {
	m := map[string]any{"msgs": s.Msgs, "n": s.N}
	if s.A != nil {
		m["a"] = *s.A
	}
	if s.Big != nil {
		m["big"] = *s.Big
	}
	return m
}

func (s *h34SaveState) clone() *h34SaveState {
	c := *s
	c.Msgs = slices.Clone(s.Msgs)
	return &c
}

// TestH34KillChild is the child process; it runs only with CKPT_H34_CHILD.
func TestH34KillChild(t *testing.T) {
	path := os.Getenv(h34ChildEnv)
	if path == "" {
		t.Skip("the child of TestH34KillAndDamage")
	}
	seed, _ := strconv.ParseUint(os.Getenv(h34SeedEnv), 10, 64)
	inc, _ := strconv.Atoi(os.Getenv(h34IncEnv))
	h34Child(path, seed, inc)
}

type h34Emitter struct {
	mu sync.Mutex
}

func (e *h34Emitter) emit(l h34Line) {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

// h34StoreDur is the store's durability of a round's incarnation.
func h34Opts(seed uint64, inc int) (Options, string) {
	rng := rand.New(rand.NewPCG(seed, uint64(7000+inc)))
	opts := Options{Durability: []Durability{Sync, NoSync, Async}[rng.IntN(3)]}
	desc := fmt.Sprintf("store %v", opts.Durability)
	if rng.IntN(3) == 0 {
		opts.SweepInterval = time.Duration(3+rng.IntN(10)) * time.Millisecond
		opts.SweepPolicy = Policy{KeepLast: 3}
		desc += fmt.Sprintf(", sweeper every %v keeping 3", opts.SweepInterval)
	}
	return opts, desc
}

func h34Child(path string, seed uint64, inc int) {
	em := &h34Emitter{}
	opts, _ := h34Opts(seed, inc)
	opts.OnAsyncError = func(err error) { em.emit(h34Line{Ev: "AE", Err: err.Error()}) }
	s, err := Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "h34 child: Open:", err)
		os.Exit(2)
	}
	em.emit(h34Line{Ev: "X", What: "open"})
	const writers = 4
	for g := range writers {
		w := &h34Writer{em: em, s: s, g: g, inc: inc, seed: seed, storeDur: opts.Durability,
			rng: rand.New(rand.NewPCG(seed, uint64(100+g+10*inc))), ids: saverkit.NewIDSource(),
			heads: map[string][]string{}, chans: map[string]map[string]string{}, vers: map[string]map[string]string{}}
		go w.run()
	}
	rng := rand.New(rand.NewPCG(seed, uint64(99+10*inc)))
	ctx := context.Background()
	for n := 1; ; n++ {
		time.Sleep(time.Duration(2+rng.IntN(15)) * time.Millisecond)
		var err error
		switch r := rng.IntN(10); {
		case r < 3:
			em.emit(h34Line{Ev: "BS", N: n, What: "Flush"})
			err = s.Flush(ctx)
			em.emit(h34Line{Ev: "BE", N: n, Err: errString(err)})
		case r < 5:
			em.emit(h34Line{Ev: "BS", N: n, What: "ApplyLog"})
			err = s.ApplyLog(ctx)
			em.emit(h34Line{Ev: "BE", N: n, Err: errString(err)})
		case r < 7:
			keep := 2 + rng.IntN(4)
			em.emit(h34Line{Ev: "RS", N: n, Keep: keep, What: "GC"})
			_, err = s.GC(ctx, Policy{KeepLast: keep})
			em.emit(h34Line{Ev: "RE", N: n, Err: errString(err)})
		case r < 9:
			th := fmt.Sprintf("i%d-w%d-put", inc, rng.IntN(writers))
			em.emit(h34Line{Ev: "RS", N: n, Keep: 1, Thread: th, What: "Prune"})
			err = s.Prune(ctx, []string{th}, PruneKeepLatest)
			em.emit(h34Line{Ev: "RE", N: n, Err: errString(err)})
		default:
			_, err = s.Compact(ctx, nil)
			em.emit(h34Line{Ev: "X", What: "Compact", Err: errString(err)})
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// h34Writer writes its own threads: "i<inc>-w<g>-save" through Save, and
// "i<inc>-w<g>-put" (namespaces "" and "sub") through Put and PutWrites.
type h34Writer struct {
	em       *h34Emitter
	s        *Store
	g, inc   int
	seed     uint64
	storeDur Durability
	rng      *rand.Rand
	ids      *saverkit.IDSource
	saves    []string
	state    *h34SaveState
	heads    map[string][]string
	chans    map[string]map[string]string
	vers     map[string]map[string]string
	n        int
}

func (w *h34Writer) value(big bool) string { return huntValue(w.rng, big) }

// tok is the marker of the writer's current call: in its metadata (or
// task id) and, ended by "Z", never inside another's.
func (w *h34Writer) tok() string {
	return fmt.Sprintf("T%d.%d.%d.%dZ", w.seed, w.inc, w.g, w.n)
}

func (w *h34Writer) run() {
	for {
		w.n++
		dur := []Durability{Sync, Sync, NoSync, NoSync, Async, DurabilityDefault}[w.rng.IntN(6)]
		switch r := w.rng.IntN(100); {
		case r < 32:
			w.save(dur)
		case r < 60:
			w.put(dur)
		case r < 82:
			w.putWrites(dur)
		case r < 92:
			w.failing()
		default:
			w.em.emit(h34Line{Ev: "BS", N: -(w.g*1_000_000 + w.n), What: "Flush"})
			err := w.s.Flush(context.Background())
			w.em.emit(h34Line{Ev: "BE", N: -(w.g*1_000_000 + w.n), Err: errString(err)})
		}
	}
}

func (w *h34Writer) resolve(dur Durability) Durability {
	if dur == DurabilityDefault {
		return w.storeDur
	}
	return dur
}

// call emits l (the call's start), runs do, and emits its outcome.
func (w *h34Writer) call(l h34Line, dur Durability, do func(ctx context.Context) (string, error)) (string, error) {
	l.Ev, l.Dur = "S", int(w.resolve(dur))
	w.em.emit(l)
	ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: dur})
	id, err := do(ctx)
	w.em.emit(h34Line{Ev: "E", Tok: l.Tok, ID: id, Err: errString(err)})
	return id, err
}

func (w *h34Writer) save(dur Durability) {
	th := fmt.Sprintf("i%d-w%d-save", w.inc, w.g)
	var st *h34SaveState
	if w.state == nil || w.rng.IntN(8) == 0 {
		st = &h34SaveState{Msgs: []string{w.value(false)}}
		if w.state != nil {
			st.A, st.Big = w.state.A, w.state.Big
		}
	} else {
		st = w.state.clone()
		st.Msgs = append(st.Msgs, w.value(false))
	}
	st.N = w.n
	switch w.rng.IntN(4) {
	case 0:
		st.A = nil
	case 1:
		a := w.value(false)
		st.A = &a
	}
	if w.rng.IntN(6) == 0 {
		b := w.value(true)
		st.Big = &b
	} else if w.rng.IntN(3) == 0 {
		st.Big = nil
	}
	tok := w.tok()
	l := h34Line{Kind: int(pcutSave), Tok: tok, Thread: th, Save: st}
	if n := len(w.saves); n > 0 {
		l.Parent = w.saves[n-1]
	}
	id, err := w.call(l, dur, func(ctx context.Context) (string, error) {
		return w.s.Save(ctx, th, st.state(), Metadata{"tok": tok})
	})
	if err == nil {
		w.saves = append(w.saves, id)
		w.state = st
	}
}

func (w *h34Writer) put(dur Durability) {
	th := fmt.Sprintf("i%d-w%d-put", w.inc, w.g)
	ns := []string{"", "sub"}[w.rng.IntN(2)]
	tok := w.tok()
	chans, vers := maps2(w.chans[ns]), maps2(w.vers[ns])
	newVersions := map[string]string{}
	for _, ch := range []string{"x", "y", "z"} {
		if _, ok := chans[ch]; !ok || w.rng.IntN(2) == 0 {
			chans[ch] = w.value(w.rng.IntN(8) == 0)
			vers[ch] = tok + "." + ch
			newVersions[ch] = vers[ch]
		}
	}
	values := map[string]any{}
	for ch, v := range chans {
		if _, ok := newVersions[ch]; ok {
			values[ch] = v
		}
	}
	l := h34Line{Kind: int(pcutPut), Tok: tok, Thread: th, NS: ns, Put: chans}
	if h := w.heads[ns]; len(h) > 0 {
		l.Parent = h[len(h)-1]
	}
	id, err := w.call(l, dur, func(ctx context.Context) (string, error) {
		cfg, err := w.s.Put(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: l.Parent},
			Checkpoint{V: 4, ChannelValues: values, ChannelVersions: vers}, Metadata{"tok": tok}, newVersions)
		return cfg.CheckpointID, err
	})
	if err == nil {
		w.heads[ns] = append(w.heads[ns], id)
		w.chans[ns], w.vers[ns] = chans, vers
	}
}

func (w *h34Writer) putWrites(dur Durability) {
	th := fmt.Sprintf("i%d-w%d-put", w.inc, w.g)
	ns := []string{"", "sub"}[w.rng.IntN(2)]
	h := w.heads[ns]
	if len(h) == 0 {
		w.put(dur)
		return
	}
	var writes []Write
	for i := range 1 + w.rng.IntN(3) {
		writes = append(writes, Write{Channel: fmt.Sprintf("c%d", i), Value: w.value(w.rng.IntN(10) == 0)})
	}
	tok := w.tok()
	l := h34Line{Kind: int(pcutWrites), Tok: tok, Thread: th, NS: ns, ID: h[len(h)-1], Writes: writes}
	_, _ = w.call(l, dur, func(ctx context.Context) (string, error) {
		return l.ID, w.s.PutWrites(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: l.ID}, writes, tok, "path")
	})
}

// failing makes a write that must fail (pcutWriter.failing).
func (w *h34Writer) failing() {
	dur := []Durability{Sync, NoSync}[w.rng.IntN(2)]
	ns := []string{"", "sub"}[w.rng.IntN(2)]
	put := fmt.Sprintf("i%d-w%d-put", w.inc, w.g)
	tok := w.tok()
	switch r := w.rng.IntN(4); {
	case r == 0 && len(w.saves) >= 2:
		th := fmt.Sprintf("i%d-w%d-save", w.inc, w.g)
		st := &h34SaveState{Msgs: []string{"stale"}, N: -1}
		_, _ = w.call(h34Line{Kind: int(pcutSave), Tok: tok, Thread: th, ExpectFail: true, Save: st}, dur, func(ctx context.Context) (string, error) {
			ctx = WithWriteOptions(ctx, WriteOptions{Durability: dur, IfHead: true, Parent: w.saves[len(w.saves)-2]})
			return w.s.Save(ctx, th, st.state(), Metadata{"tok": tok})
		})
	case r == 1 && len(w.heads[ns]) >= 2:
		h := w.heads[ns]
		_, _ = w.call(h34Line{Kind: int(pcutPut), Tok: tok, Thread: put, NS: ns, ExpectFail: true}, dur, func(ctx context.Context) (string, error) {
			ctx = WithWriteOptions(ctx, WriteOptions{Durability: dur, IfHead: true})
			cfg, err := w.s.Put(ctx, Config{ThreadID: put, CheckpointNS: ns, CheckpointID: h[len(h)-2]},
				Checkpoint{V: 4, ChannelValues: map[string]any{"x": "stale"}, ChannelVersions: map[string]string{"x": tok}},
				Metadata{"tok": tok}, map[string]string{"x": tok})
			return cfg.CheckpointID, err
		})
	case r == 2 && len(w.heads[ns]) >= 1:
		h := w.heads[ns]
		vers := maps2(w.vers[ns])
		_, _ = w.call(h34Line{Kind: int(pcutPut), Tok: tok, Thread: put, NS: ns, ExpectFail: true}, dur, func(ctx context.Context) (string, error) {
			cfg, err := w.s.Put(ctx, Config{ThreadID: put, CheckpointNS: ns, CheckpointID: h[len(h)-1]},
				Checkpoint{V: 4, ChannelValues: map[string]any{"x": "other bytes " + tok}, ChannelVersions: vers},
				Metadata{"tok": tok}, map[string]string{"x": vers["x"]})
			return cfg.CheckpointID, err
		})
	default:
		missing := mustID(w.ids.Next(time.Now())).String()
		writes := []Write{{Channel: "c0", Value: "never"}}
		_, _ = w.call(h34Line{Kind: int(pcutWrites), Tok: tok, Thread: put, NS: ns, ID: missing, ExpectFail: true, Writes: writes}, dur, func(ctx context.Context) (string, error) {
			return missing, w.s.PutWrites(ctx, Config{ThreadID: put, CheckpointNS: ns, CheckpointID: missing}, writes, tok, "path")
		})
	}
}

// ---- the parent ----

// h34Write is one write call the child began.
type h34Write struct {
	pcutWrite
	writer   string // "i<inc>-w<g>": its calls are sequential
	started  int    // the line of its start
	ended    int    // the line of its outcome (0: killed before it returned)
	errStr   string
	inc      int
	durableL int // the line at which it was known durable (0: never)
}

// h34Ret is a retention call (GC, Prune) the child began.
type h34Ret struct {
	thread     string // "" : every thread
	keep       int
	start, end int // lines (end 0: unfinished at the kill)
}

// h34Run is the record of a file's incarnations.
type h34Run struct {
	writes   []*h34Write
	byTok    map[string]*h34Write
	rets     []*h34Ret
	sweepers []int // the incarnations with a sweeper (keeping 3)
	asyncErr int
	line     int // lines across incarnations
	// barriers: Flush and ApplyLog calls by incarnation and number (end 0:
	// unfinished or failed)
	barriers map[[2]int]*h34Barrier
}

type h34Hunt struct {
	t      *testing.T
	keep   string
	images int
	kills  int
	// counts
	nKills, nImages, nRefused, nOpened, nRecovered, nChecked int
	nByDamage                                                map[string]int
	nFailedBy                                                map[string]int // images that failed, by damage
	nRefusedBy                                               map[string]int
	lastImages                                               int // images of kind sector-last
	fails                                                    map[string][]string
	counts                                                   map[string]int
}

// fail records a failure of category cat; seen, if not nil, is the set of
// the categories the image failed in so far (counted once an image).
func (h *h34Hunt) fail(cat, what string, seen map[string]bool) {
	if seen != nil && seen[cat] {
		return // one example an image
	}
	if seen != nil {
		seen[cat] = true
	}
	h.counts[cat]++
	if len(h.fails[cat]) < 4 {
		h.fails[cat] = append(h.fails[cat], what)
	}
}

func TestH34KillAndDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	t.Parallel()
	rounds := pcutEnv(t, "CKPT_H34_ROUNDS", 1)
	seed := pcutEnv(t, "CKPT_H34_SEED", 1)
	h := &h34Hunt{t: t, keep: os.Getenv("CKPT_H34_KEEP"), images: pcutEnv(t, "CKPT_H34_IMAGES", 4),
		kills: pcutEnv(t, "CKPT_H34_KILLS", 2), nByDamage: map[string]int{}, nFailedBy: map[string]int{}, nRefusedBy: map[string]int{},
		fails: map[string][]string{}, counts: map[string]int{}}
	_ = testchild.Binary() // a race build's children are built first, not timed
	began := time.Now()
	for r := range rounds {
		h.round(uint64(seed + r))
	}
	t.Logf("%v: %d rounds from seed %d: %d kills, %d images (%v), %d refused (%v), %d opened, %d recovered, %d acknowledged durable writes checked; a sector reaching the last record zeroed: %d images; failed images by damage: %v",
		time.Since(began).Round(time.Millisecond), rounds, seed, h.nKills, h.nImages, h.nByDamage, h.nRefused, h.nRefusedBy, h.nOpened, h.nRecovered, h.nChecked, h.lastImages, h.nFailedBy)
	cats := make([]string, 0, len(h.fails))
	for c := range h.fails {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Errorf("%s: %d images (or calls), e.g. (one line an image):\n\t%s", c, h.counts[c], strings.Join(h.fails[c], "\n\t"))
	}
}

func (h *h34Hunt) round(seed uint64) {
	t := h.t
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	run := &h34Run{byTok: map[string]*h34Write{}, barriers: map[[2]int]*h34Barrier{}}
	rng := rand.New(rand.NewPCG(seed, 0x34))
	for inc := range h.kills {
		_, odesc := h34Opts(seed, inc)
		if opts, _ := h34Opts(seed, inc); opts.SweepInterval > 0 {
			run.sweepers = append(run.sweepers, inc)
		}
		maxDelay := 250
		if raceBuild && os.Getenv("CKPT_H34_ROUNDS") == "" {
			maxDelay = 60 // the checks pay the race detector: fewer writes
		}
		delay := time.Duration(rng.IntN(maxDelay)) * time.Millisecond
		h.kill(path, seed, inc, delay, run)
		h.nKills++
		logData, err := os.ReadFile(path + walSuffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		db, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h.settle(run)
		chain := h34Chain(logData)
		for i := range h.images {
			irng := rand.New(rand.NewPCG(seed, uint64(1000*inc+i)))
			img, kind, dmgOff, desc := h34Damage(logData, chain, irng, i)
			what := fmt.Sprintf("seed %d kill %d (%s, killed %v after its first line, %d log bytes, %d records), image %d: %s",
				seed, inc, odesc, delay, len(logData), len(chain), i, desc)
			h.check(filepath.Join(dir, fmt.Sprintf("k%d-%d", inc, i)), db, img, logData, kind, dmgOff, run, what)
		}
	}
}

// kill runs the child on path, kills it after delay (from its first line)
// and records its lines in run.
func (h *h34Hunt) kill(path string, seed uint64, inc int, delay time.Duration, run *h34Run) {
	t := h.t
	cmd := exec.Command(testchild.Binary(), "-test.run=^TestH34KillChild$")
	cmd.Env = childEnv(h34ChildEnv+"="+path, h34SeedEnv+"="+strconv.FormatUint(seed, 10), h34IncEnv+"="+strconv.Itoa(inc))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []h34Line
	var bad []string
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<22)
		// A line that does not parse is bad once another follows it.
		// The last may have been cut by the kill: the child writes a
		// line with one Write, but a line longer than PIPE_BUF (4096
		// bytes: big values) goes into a full pipe in pieces, write(2)
		// by write(2), and the kill can land between them. Only the
		// last: the emitter's mutex keeps the lines whole and in
		// order, and the event of a cut line did not go on (its emit
		// had not returned), so dropping it only leaves the parent
		// knowing less (a call it never saw start, or one it sees
		// started and not returned, which may or may not have landed).
		cut := ""
		for sc.Scan() {
			if cut != "" {
				bad, cut = append(bad, cut), ""
			}
			var l h34Line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				cut = sc.Text()
				continue
			}
			if lines = append(lines, l); len(lines) == 1 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case <-done:
	case <-time.After(60 * time.Second):
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("seed %d kill %d: the child was not killed (%v): %s", seed, inc, err, stderr.String())
	}
	if len(bad) > 0 {
		t.Fatalf("seed %d kill %d: lines that do not parse: %q", seed, inc, bad)
	}
	open := map[int]*h34Ret{}
	for _, l := range lines {
		run.line++
		at := run.line
		switch l.Ev {
		case "S":
			w := &h34Write{pcutWrite: pcutWrite{kind: pcutKind(l.Kind), tok: l.Tok, thread: l.Thread, ns: l.NS,
				dur: Durability(l.Dur), expectFail: l.ExpectFail, id: l.ID, parent: l.Parent, writes: l.Writes},
				started: at, inc: inc}
			w.writer = l.Tok[:strings.LastIndexByte(l.Tok, '.')]
			switch {
			case l.Save != nil:
				w.state = l.Save.state()
			case l.Put != nil:
				w.state = map[string]any{}
				for k, v := range l.Put {
					w.state[k] = v
				}
			}
			run.writes = append(run.writes, w)
			run.byTok[w.tok] = w
		case "E":
			w := run.byTok[l.Tok]
			if w == nil {
				t.Fatalf("seed %d kill %d: an outcome of no call: %+v", seed, inc, l)
			}
			w.ended, w.errStr = at, l.Err
			if l.ID != "" {
				w.id = l.ID
			}
			if l.Err != "" {
				w.err = errors.New(l.Err)
				if !w.expectFail {
					h.fail("a write failed", fmt.Sprintf("seed %d kill %d: %s %s: %s", seed, inc, w.thread, w.tok, l.Err), nil)
				}
			} else if w.expectFail {
				h.fail("a write made to fail returned nil", fmt.Sprintf("seed %d kill %d: %s %s", seed, inc, w.thread, w.tok), nil)
			}
		case "BS":
			run.barrierStart(inc, l.N, at)
		case "BE":
			if l.Err != "" {
				h.fail("a Flush or ApplyLog failed", fmt.Sprintf("seed %d kill %d: %s", seed, inc, l.Err), nil)
				continue
			}
			run.barrierEnd(inc, l.N, at)
		case "RS":
			r := &h34Ret{thread: l.Thread, keep: l.Keep, start: at}
			open[l.N] = r
			run.rets = append(run.rets, r)
		case "RE":
			if r := open[l.N]; r != nil {
				r.end = at
			}
			if l.Err != "" {
				h.fail("a GC or Prune failed", fmt.Sprintf("seed %d kill %d: %s", seed, inc, l.Err), nil)
			}
		case "AE":
			run.asyncErr++
			h.fail("an Async write failed", fmt.Sprintf("seed %d kill %d: %s", seed, inc, l.Err), nil)
		case "X":
			if l.Err != "" {
				h.fail("Compact failed", fmt.Sprintf("seed %d kill %d: %s", seed, inc, l.Err), nil)
			}
		}
	}
}

type h34Barrier struct{ start, end int }

func (r *h34Run) barrierStart(inc, n, at int) { r.barriers[[2]int{inc, n}] = &h34Barrier{start: at} }
func (r *h34Run) barrierEnd(inc, n, at int) {
	if b := r.barriers[[2]int{inc, n}]; b != nil {
		b.end = at
	}
}

// settle computes when each write was known durable (pcutRun.settle): a
// Sync write when it returned nil; a NoSync or Async one when the first
// barrier (a Flush, ApplyLog or Sync write that returned nil) begun after
// it returned, in the same incarnation, did.
func (h *h34Hunt) settle(run *h34Run) {
	type bar struct{ inc, start, end int }
	var bs []bar
	for k, b := range run.barriers {
		if b.end != 0 {
			bs = append(bs, bar{k[0], b.start, b.end})
		}
	}
	for _, w := range run.writes {
		if w.ended != 0 && w.err == nil && w.dur == Sync {
			bs = append(bs, bar{w.inc, w.started, w.ended})
		}
	}
	for _, w := range run.writes {
		w.durableL = 0
		if w.ended == 0 || w.err != nil {
			continue
		}
		if w.dur == Sync {
			w.durableL = w.ended
			continue
		}
		for _, b := range bs {
			if b.inc == w.inc && b.start > w.ended && (w.durableL == 0 || b.end < w.durableL) {
				w.durableL = b.end
			}
		}
	}
}

// h34Chain returns the records of the log's chain from its header that
// hold a group: [start, end) of each (the proofs between them, records
// that say the one before was durable, are left out).
func h34Chain(data []byte) [][2]int {
	var recs [][2]int
	for _, r := range engine.RecordSpans(data) {
		if !r.Proof {
			recs = append(recs, [2]int{int(r.Off), int(r.End)})
		}
	}
	return recs
}

// h34Damage builds image i of the log: image 0 as it is; the others a
// flipped byte in a record before the last, a zeroed 512-byte sector or
// 4 KiB block of one, or (one in seven each) a flipped byte in the last
// record, or the 512-byte or 4 KiB block holding the last record's end
// zeroed (with the proof after it: log version 5's second proof is a
// block on). It returns the image, the kind of damage, the offset of the
// first record it touches (-1: none) and what it did.
func h34Damage(log []byte, chain [][2]int, rng *rand.Rand, i int) ([]byte, string, int, string) {
	img := bytes.Clone(log)
	if i == 0 || len(chain) == 0 || log == nil {
		return img, "none", -1, fmt.Sprintf("undamaged (%d records)", len(chain))
	}
	r := rng.IntN(7)
	block := 512
	if rng.IntN(2) == 0 {
		block = 4096
	}
	if r == 6 {
		// The block holding the last record's end, and the proof after it.
		last := chain[len(chain)-1]
		s := (last[1] - 1) &^ (block - 1)
		return h34Zero(img, chain, s, block, fmt.Sprintf("the %d-byte block holding the end of the last record %d-%d", block, last[0], last[1]))
	}
	if r == 0 || len(chain) == 1 {
		last := chain[len(chain)-1]
		off := last[0] + rng.IntN(last[1]-last[0])
		x := byte(1 + rng.IntN(255))
		img[off] ^= x
		return img, "last", last[0], fmt.Sprintf("byte %d of the last record %d-%d flipped (^%#x)", off, last[0], last[1], x)
	}
	k := rng.IntN(len(chain) - 1)
	rec := chain[k]
	off := rec[0] + rng.IntN(rec[1]-rec[0])
	if r <= 3 {
		x := byte(1 + rng.IntN(255))
		img[off] ^= x
		kind := "flip"
		if k == 0 {
			kind = "flip-first" // the log's first record (bbolt may hold it)
		}
		return img, kind, rec[0], fmt.Sprintf("byte %d of record %d of %d (%d-%d) flipped (^%#x)", off, k, len(chain), rec[0], rec[1], x)
	}
	return h34Zero(img, chain, off&^(block-1), block, fmt.Sprintf("in record %d of %d, %d-%d", k, len(chain), rec[0], rec[1]))
}

// h34Zero zeroes the block of img at s (block bytes, or to its end) and
// returns it with its kind (sector, or block for 4 KiB; -header over the
// log's header, -last reaching the last record, -first in the first),
// the offset of the first record it touches, and what it did.
func h34Zero(img []byte, chain [][2]int, s, block int, where string) ([]byte, string, int, string) {
	e := min(s+block, len(img))
	clear(img[s:e])
	first := -1
	for _, c := range chain {
		if c[1] > s {
			first = c[0]
			break
		}
	}
	kind := "sector"
	if block > 512 {
		kind = "block"
	}
	switch last := chain[len(chain)-1]; {
	case s == 0:
		kind += "-header" // the log's header (magic, identity) too
	case e > last[0]:
		kind += "-last" // reaches the last record too: a torn tail's look
	case first == chain[0][0]:
		kind += "-first"
	}
	return img, kind, first, fmt.Sprintf("%d-byte block %d-%d zeroed (%s)", block, s, e, where)
}

// mayBeGone tells whether retention may have removed w (or the checkpoint
// of its pending writes) by the kill.
func (run *h34Run) mayBeGone(w *h34Write) bool {
	c := &w.pcutWrite
	if w.kind == pcutWrites {
		p := run.checkpointByID(w.id)
		if p == nil {
			return false
		}
		c = &p.pcutWrite
	}
	cw := run.byTok[c.tok]
	newer := func(before int) int {
		n := 0
		for _, o := range run.writes {
			if o.kind != pcutWrites && !o.expectFail && o.thread == c.thread && o.ns == c.ns && o.started > cw.started && o.started < before && (o.err == nil) {
				n++
			}
		}
		return n
	}
	for _, d := range run.rets {
		if d.thread != "" && d.thread != c.thread {
			continue
		}
		end := d.end
		if end == 0 {
			end = 1 << 60
		}
		if newer(end) >= d.keep {
			return true
		}
	}
	if slices.ContainsFunc(run.sweepers, func(inc int) bool { return inc >= cw.inc }) && newer(1<<60) >= 3 {
		return true
	}
	return false
}

func (run *h34Run) checkpointByID(id string) *h34Write {
	for _, w := range run.writes {
		if w.kind != pcutWrites && w.id == id && w.ended != 0 && w.err == nil {
			return w
		}
	}
	return nil
}

// check opens the image (bbolt's file db, the log img) in dir.
func (h *h34Hunt) check(dir string, db, img, orig []byte, kind string, dmgOff int, run *h34Run, what string) {
	t := h.t
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if orig != nil {
		if err := os.WriteFile(path+walSuffix, img, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h.nImages++
	h.nByDamage[kind]++
	if strings.HasSuffix(kind, "-last") {
		h.lastImages++
	}
	failed := false
	seen := map[string]bool{}
	fail := func(cat, detail string) {
		failed = true
		h.fail(cat, what+": "+detail, seen)
	}
	defer func() {
		if failed {
			h.nFailedBy[kind]++
		}
		if failed && h.keep != "" {
			kd := filepath.Join(h.keep, fmt.Sprintf("img%d", h.nImages))
			_ = os.MkdirAll(kd, 0o700)
			_ = os.WriteFile(filepath.Join(kd, "s.db"), db, 0o600)
			_ = os.WriteFile(filepath.Join(kd, "s.db-wal"), img, 0o600)
			_ = os.WriteFile(filepath.Join(kd, "what"), []byte(what+"\n"), 0o600)
		}
	}()
	roErr := error(nil)
	if ro, err := Open(path, Options{ReadOnly: true}); err == nil {
		h.checkStore(ro, run, kind, -1, nil, false, func(cat, d string) { fail("read-only: "+cat, d) })
		_ = ro.Close()
	} else {
		roErr = err
	}
	s, err := Open(path, Options{})
	if (err == nil) != (roErr == nil) {
		fail("read-only and read-write Open disagree", fmt.Sprintf("read-only %v, read-write %v", roErr, err))
	}
	if err == nil {
		h.nOpened++
		h.checkStore(s, run, kind, -1, nil, true, fail)
		_ = s.Close()
		return
	}
	if !errors.Is(err, ErrCorrupt) {
		fail("Open failed without ErrCorrupt", err.Error())
		return
	}
	h.nRefused++
	h.nRefusedBy[kind]++
	if kind == "none" {
		fail("Open refused an undamaged kill image", err.Error())
		return
	}
	if _, err := RecoverLog(path, Options{}); err != nil {
		fail("RecoverLog failed", err.Error())
		return
	}
	s, err = Open(path, Options{})
	if err != nil {
		fail("Open after RecoverLog failed", err.Error())
		return
	}
	h.nRecovered++
	defer s.Close()
	h.checkStore(s, run, kind, dmgOff, orig, true, func(cat, d string) { fail("after RecoverLog: "+cat, d) })
}

// checkStore checks an opened image; dmgOff and img (not nil) after
// RecoverLog of an image damaged at dmgOff of the log img (its undamaged
// bytes): acknowledged writes whose marker is there from dmgOff may be lost.
func (h *h34Hunt) checkStore(s *Store, run *h34Run, kind string, dmgOff int, img []byte, verify bool, fail func(cat, detail string)) {
	ctx := context.Background()
	present := map[string]bool{}
	for tp, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			fail("List failed", err.Error())
			break
		}
		tok, _ := tp.Metadata["tok"].(string)
		w := run.byTok[tok]
		switch {
		case w == nil || w.kind == pcutWrites:
			fail("a checkpoint no call wrote", fmt.Sprintf("%s %q %s, metadata %v", tp.Config.ThreadID, tp.Config.CheckpointNS, tp.Config.CheckpointID, tp.Metadata))
			continue
		case w.err != nil:
			fail("a write that returned an error is visible", fmt.Sprintf("%s %s (%v): checkpoint %s", w.thread, w.tok, w.err, tp.Config.CheckpointID))
			continue
		}
		present[tok] = true
		pw := w.pcutWrite
		if w.ended == 0 {
			pw.id = "" // killed before it returned: its id is unknown
		}
		if d := pcutDiff(&pw, tp); d != "" {
			fail("a checkpoint differs from what was written", fmt.Sprintf("%s %s (%v, returned %v): %s", w.thread, w.tok, w.dur, w.ended != 0, d))
		}
		tasks := map[string][]PendingWrite{}
		for _, p := range tp.PendingWrites {
			tasks[p.TaskID] = append(tasks[p.TaskID], p)
		}
		for task, got := range tasks {
			w := run.byTok[task]
			switch {
			case w == nil || w.kind != pcutWrites:
				fail("pending writes no call wrote", fmt.Sprintf("task %q on %s", task, tp.Config.CheckpointID))
			case w.err != nil:
				fail("a write that returned an error is visible", fmt.Sprintf("%s %s (%v): pending writes on %s", w.thread, w.tok, w.err, tp.Config.CheckpointID))
			case w.id != tp.Config.CheckpointID:
				fail("pending writes on the wrong checkpoint", fmt.Sprintf("task %s on %s, written to %s", task, tp.Config.CheckpointID, w.id))
			default:
				present[task] = true
				if d := pcutWritesDiff(&w.pcutWrite, got); d != "" {
					fail("pending writes differ from what was written", fmt.Sprintf("%s %s: %s", w.thread, w.tok, d))
				}
			}
		}
	}
	lastOf := map[string]int{} // writer: its last present write's index
	for i, w := range run.writes {
		if present[w.tok] {
			lastOf[w.writer] = i
		}
	}
	for i, w := range run.writes {
		if w.ended == 0 || w.err != nil || present[w.tok] {
			continue
		}
		durable := w.durableL != 0
		if durable {
			h.nChecked++
		}
		gone := run.mayBeGone(w)
		mayLose := false
		if img != nil && dmgOff >= 0 && bytes.Contains(img[dmgOff:], []byte(w.tok)) {
			mayLose = true // in the damaged record or after it: recovery drops those
		}
		switch {
		case gone || mayLose:
		case durable:
			how := "a Sync write"
			if w.dur != Sync {
				how = fmt.Sprintf("a %v write covered by a Flush, ApplyLog or Sync write that returned nil (line %d)", w.dur, w.durableL)
			}
			fail("an acknowledged durable write is missing", fmt.Sprintf("%s: %s %s %q (checkpoint %s), lines %d-%d", how, w.thread, w.tok, w.ns, w.id, w.started, w.ended))
		case kind == "none" && w.dur == NoSync:
			fail("a kill lost a NoSync write that returned nil", fmt.Sprintf("%s %s %q (checkpoint %s), lines %d-%d", w.thread, w.tok, w.ns, w.id, w.started, w.ended))
		}
		if j, ok := lastOf[w.writer]; ok && j > i && !gone && !mayLose && (w.dur != Async || run.asyncErr == 0) {
			fail("a later write without an earlier one", fmt.Sprintf("%s (%v, durable %v) missing, %s present", w.tok, w.dur, durable, run.writes[j].tok))
		}
	}
	if !verify {
		return
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		fail("Verify failed", err.Error())
	} else if !rep.OK() {
		var ps []string
		for _, pr := range rep.Problems {
			ps = append(ps, pr.String())
		}
		fail("Verify reports problems", strings.Join(ps, "; "))
	}
}
