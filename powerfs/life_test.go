//go:build linux

package powerfs

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// ack is a write the store acknowledged: durable from the mark it was
// made durable at (0: not yet), and expected until the mark a GC that
// may delete it ended at (0: always).
type ack struct {
	File, Thread, ID, Value string
	From, Until             int
}

// life runs a store through the mount, marking a point after each step
// and keeping what each point promises. The store runs in a child
// process (the test binary again, run): in the process serving the
// mount, bbolt's map of its file can deadlock the Go runtime (a
// goroutine faulting on a mapped page reaches no safe point, and a
// stop-the-world for the GC waits for it while the FUSE server's
// goroutines, which would serve the fault, are stopped).
type life struct {
	t    *testing.T
	dir  string       // the mount
	rec  *Record      // the parent's: the record
	opts ckpt.Options // what the images are opened with (the parent's)
	// runOpts is what the store runs with (the fault hunt's child).
	runOpts ckpt.Options
	s       *ckpt.Store
	async   []*ack // Async writes not yet vouched for by a Flush or Close
	seq     int
	cli     cliResult // the command cliRun ran (the parent's)
	lifeData
}

// lifeData is what the child hands the parent.
type lifeData struct {
	Acks  []*ack
	Marks []int
	Names map[int]string
	Mark  int
	Info  map[string]int // what a scenario found (positions in the record)
	// Refused are writes whose call returned an error: in no image, at
	// no mark, nor in the live file (fault_test.go).
	Refused []*ack
	// Maybe are writes neither acknowledged nor refused (Async writes
	// a failed Flush or Close did not vouch for): anything goes.
	Maybe []*ack
	Errs  []string // the errors the calls returned, in order
}

const (
	childDir = "CKPT_POWERFS_CHILD_DIR"
	childOut = "CKPT_POWERFS_CHILD_OUT"
)

// run runs scenario in a child process on a fresh mount and returns the
// life for the parent to check; in the child it runs scenario and
// returns nil (the test then returns).
func run(t *testing.T, check ckpt.Options, scenario func(*life)) *life {
	t.Helper()
	if dir := os.Getenv(childDir); dir != "" {
		l := &life{t: t, dir: dir}
		l.Names, l.Info = map[int]string{}, map[string]int{}
		scenario(l)
		b, err := json.Marshal(l.lifeData)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv(childOut), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	fs := Mount(t)
	out := filepath.Join(t.TempDir(), "life.json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), childDir+"="+fs.Dir, childOut+"="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the store's life in the child: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	l := &life{t: t, dir: fs.Dir, rec: fs.Record, opts: check}
	if err := json.Unmarshal(b, &l.lifeData); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *life) path(name string) string { return filepath.Join(l.dir, name) }

// step marks a point after what was just done.
func (l *life) step(what string) {
	l.t.Helper()
	l.Mark++
	if _, err := os.Stat(l.path(MarkName(l.Mark))); !errors.Is(err, os.ErrNotExist) {
		l.t.Fatalf("mark %d: %v", l.Mark, err)
	}
	l.Marks = append(l.Marks, l.Mark)
	l.Names[l.Mark] = what
}

func (l *life) open(opts ckpt.Options) {
	l.t.Helper()
	s, err := ckpt.Open(l.path("s.db"), opts)
	if err != nil {
		l.t.Fatalf("Open: %v", err)
	}
	l.s = s
	l.step("open")
}

// save writes one checkpoint with durability d and records its
// acknowledgement: a Sync write is durable once it returned.
func (l *life) save(thread string, d ckpt.Durability, size int) *ack {
	l.t.Helper()
	l.seq++
	v := strconv.Itoa(l.seq) + strings.Repeat("x", size)
	ctx := ckpt.WithWriteOptions(context.Background(), ckpt.WriteOptions{Durability: d})
	id, err := l.s.Save(ctx, thread, map[string]any{"v": v}, nil)
	if err != nil {
		l.t.Fatalf("Save: %v", err)
	}
	a := &ack{File: "s.db", Thread: thread, ID: id, Value: v}
	l.Acks = append(l.Acks, a)
	switch d {
	case ckpt.Sync:
		a.From = l.Mark + 1
	case ckpt.Async:
		l.async = append(l.async, a)
	}
	l.step(fmt.Sprintf("save %s %d", thread, d))
	return a
}

// vouch makes the Async writes so far durable from the next mark (a
// Flush or Close returned nil).
func (l *life) vouch() {
	for _, a := range l.async {
		a.From = l.Mark + 1
	}
	l.async = nil
}

func (l *life) flush() {
	l.t.Helper()
	if err := l.s.Flush(context.Background()); err != nil {
		l.t.Fatalf("Flush: %v", err)
	}
	l.vouch()
	l.step("flush")
}

func (l *life) close() {
	l.t.Helper()
	if err := l.s.Close(); err != nil {
		l.t.Fatalf("Close: %v", err)
	}
	l.vouch()
	l.step("close")
}

func (l *life) do(what string, f func(context.Context, *ckpt.Store) error) {
	l.t.Helper()
	if err := f(context.Background(), l.s); err != nil {
		l.t.Fatalf("%s: %v", what, err)
	}
	l.step(what)
}

// copyAcks expects the acknowledged writes durable now also in file
// (a backup, an import), from the next mark.
func (l *life) copyAcks(file string) {
	for _, a := range l.Acks {
		if a.File == "s.db" && a.From != 0 && a.From <= l.Mark+1 && a.Until == 0 {
			c := *a
			c.File, c.From = file, l.Mark+1
			l.Acks = append(l.Acks, &c)
		}
	}
}

// gcKeepLast runs a GC keeping the newest checkpoint of each thread: the
// older ones may be gone from its end on.
func (l *life) gcKeepLast() {
	l.t.Helper()
	if _, err := l.s.GC(context.Background(), ckpt.Policy{KeepLast: 1}); err != nil {
		l.t.Fatalf("GC: %v", err)
	}
	newest := map[string]*ack{}
	for _, a := range l.Acks {
		if a.File == "s.db" {
			newest[a.Thread] = a
		}
	}
	for _, a := range l.Acks {
		if a.File == "s.db" && newest[a.Thread] != a && a.Until == 0 {
			a.Until = l.Mark + 1
		}
	}
	l.step("gc")
}

// check builds images at every mark (perMark of them, seeded) and opens
// each with the real store: every write durable at the mark must be
// there, whole, Open must not refuse and Verify must pass. It returns
// the number of images checked.
func (l *life) check(seed uint64, perMark int) int {
	l.t.Helper()
	return l.checkMarks(seed, perMark, l.Marks)
}

// images scales a hunt's images per mark by CKPT_POWERFS_IMAGES (a
// whole number of times; default 1). CKPT_POWERFS_SEED draws other
// images.
func images(n int) int {
	if k, err := strconv.Atoi(os.Getenv("CKPT_POWERFS_IMAGES")); err == nil && k > 1 {
		return n * k
	}
	return n
}

// checkMarks is check at the given marks only.
func (l *life) checkMarks(seed uint64, perMark int, marks []int) int {
	l.t.Helper()
	perMark = images(perMark)
	if v, err := strconv.ParseUint(os.Getenv("CKPT_POWERFS_SEED"), 10, 64); err == nil {
		seed ^= v << 8 // another sample of the same record
	}
	if n := l.rec.Unknown; n != 0 {
		l.t.Fatalf("powerfs: %d writes or syncs to nodes the record could not name", n)
	}
	losses := []Loss{{Keep: 0, Tear: 0}, {Keep: 0, Tear: 1}, {Keep: 0.5, Tear: 0.5}, {Keep: 0.8, Tear: 1}, {Keep: 0.2, Tear: 0.5}}
	// Every image is drawn as before (its own seed: the same images in
	// the same order), but one byte for byte the same as one already
	// checked against the same expectations (an image and what it must
	// hold are all checkImage reads) is not opened again: the same Open,
	// Loads and Verify on the same bytes. The distinct ones are checked
	// by a few goroutines: independent copies, each in its own
	// directory, and an Open waits on its fsyncs.
	type job struct {
		m, k       int
		loss       Loss
		lost, kept int
		im         *Image
		err        error
	}
	var jobs []*job
	seen := map[[sha256.Size]byte]bool{}
	checked := 0
	// Drawn here, checked there as they come: at most a few images (an
	// 80 MB log each in TestPowerCutLogRewind) in memory at once.
	next := make(chan *job)
	var wg sync.WaitGroup
	for range checkWorkers {
		wg.Go(func() {
			for j := range next {
				j.err = l.checkImage(j.im, j.m)
				j.im = nil
			}
		})
	}
	draw := func() error {
		defer close(next)
		for _, m := range marks {
			for k := range perMark {
				rng := rand.New(rand.NewPCG(seed, uint64(m)<<16|uint64(k)))
				loss := losses[k%len(losses)]
				im, err := l.rec.Image(m, rng, loss)
				if err != nil {
					return err
				}
				checked++
				if h := l.imageKey(im, m); !seen[h] {
					seen[h] = true
					j := &job{m: m, k: k, loss: loss, lost: im.Lost, kept: im.Kept, im: im}
					jobs = append(jobs, j)
					next <- j
				}
			}
		}
		return nil
	}
	err := draw()
	wg.Wait()
	if err != nil {
		l.t.Fatal(err)
	}
	failed := 0
	for _, j := range jobs {
		if j.err != nil {
			failed++
			if failed <= 5 {
				l.t.Errorf("power cut after mark %d (%s), image %d (keep %.1f, tear %.1f; %d ops lost or torn, %d kept): %v",
					j.m, l.Names[j.m], j.k, j.loss.Keep, j.loss.Tear, j.lost, j.kept, j.err)
			}
		}
	}
	if failed > 0 {
		l.t.Errorf("%d of %d distinct images failed (%d drawn)", failed, len(jobs), checked)
	}
	l.t.Logf("%d marks, %d images checked (%d distinct), %d ops recorded", len(marks), checked, len(jobs), len(l.rec.Ops()))
	return checked
}

// checkWorkers is how many images checkMarks opens at once.
const checkWorkers = 3

// imageKey is what checkImage's outcome depends on: the image's
// directories and files, byte for byte, and which acknowledged writes
// must be there at m (durable and not yet collectable; durable, for the
// newest-checkpoint check).
func (l *life) imageKey(im *Image, m int) [sha256.Size]byte {
	h := sha256.New()
	for _, d := range im.Dirs {
		fmt.Fprintf(h, "dir %q\n", d)
	}
	paths := make([]string, 0, len(im.Files))
	for p := range im.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(h, "file %q %d\n", p, len(im.Files[p]))
		h.Write(im.Files[p])
	}
	for i, a := range l.Acks {
		durable := a.From != 0 && a.From <= m
		live := durable && (a.Until == 0 || m < a.Until)
		fmt.Fprintf(h, "ack %d %t %t\n", i, durable, live)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func (l *life) checkImage(im *Image, m int) error {
	dir := l.t.TempDir()
	if err := im.WriteTo(dir); err != nil {
		return err
	}
	files := map[string]bool{"s.db": true}
	for _, a := range l.Acks {
		if a.From != 0 && a.From <= m && (a.Until == 0 || m < a.Until) {
			files[a.File] = true
		}
	}
	for file := range files {
		if err := l.checkFile(filepath.Join(dir, file), m); err != nil {
			var names []string
			for p, b := range im.Files {
				names = append(names, fmt.Sprintf("%s(%d)", p, len(b)))
			}
			return fmt.Errorf("%s [image: %s]: %w", file, strings.Join(names, " "), err)
		}
	}
	return nil
}

func (l *life) checkFile(path string, m int) error {
	ctx := context.Background()
	opts := l.opts
	opts.Durability = ckpt.Sync
	if _, err := os.Stat(path); err != nil && filepath.Base(path) == "s.db" {
		// The store's file may be absent (never made durable) only if
		// nothing acknowledged needs it.
		for _, a := range l.Acks {
			if a.File == "s.db" && a.From != 0 && a.From <= m && (a.Until == 0 || m < a.Until) {
				return fmt.Errorf("the store's file is gone, with write %s/%s acknowledged durable", a.Thread, a.ID)
			}
		}
		return nil
	}
	base := filepath.Base(path)
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return fmt.Errorf("Open refused: %w", err)
	}
	defer s.Close()
	for _, a := range l.Acks {
		if a.File != base || a.From == 0 || a.From > m || (a.Until != 0 && m >= a.Until) {
			continue
		}
		snap, err := s.Load(ctx, a.Thread, a.ID)
		if err != nil {
			return fmt.Errorf("write %s/%s acknowledged durable: %w", a.Thread, a.ID, err)
		}
		st, err := snap.StateMap()
		if err != nil {
			return fmt.Errorf("write %s/%s: %w", a.Thread, a.ID, err)
		}
		if got, _ := st["v"].(string); got != a.Value {
			return fmt.Errorf("write %s/%s holds %.20q, want %.20q", a.Thread, a.ID, got, a.Value)
		}
	}
	// A thread's newest checkpoint is never older than its newest
	// durable write (ids grow with time): no stale log replayed over
	// later writes, no head set back.
	newest := map[string]string{}
	for _, a := range l.Acks {
		if a.File == base && a.From != 0 && a.From <= m && a.ID > newest[a.Thread] {
			newest[a.Thread] = a.ID
		}
	}
	for thread, id := range newest {
		snap, err := s.Latest(ctx, thread)
		if err != nil {
			return fmt.Errorf("thread %s: Latest: %w", thread, err)
		}
		if snap.CheckpointID < id {
			return fmt.Errorf("thread %s: Latest is %s, older than %s, acknowledged durable", thread, snap.CheckpointID, id)
		}
	}
	if err := l.checkRefused(s, base); err != nil {
		return err
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil {
		return fmt.Errorf("Verify: %w", err)
	}
	if !rep.OK() {
		return fmt.Errorf("Verify: %v", rep.Problems)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	return nil
}

func key(id uint32) ckpt.Key {
	k := ckpt.Key{ID: id}
	for i := range k.Secret {
		k.Secret[i] = byte(id*31 + uint32(i))
	}
	return k
}
