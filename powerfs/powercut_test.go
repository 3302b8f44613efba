//go:build linux

package powerfs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// ack is a write the store acknowledged: durable from the mark it was
// made durable at (0: not yet), and expected until the mark a GC that
// may delete it ended at (0: always).
type ack struct {
	file, thread, id, value string
	from, until             int
}

// life runs a store through the mount, marking a point after each step
// and keeping what each point promises.
type life struct {
	t     *testing.T
	fs    *FS
	opts  ckpt.Options // what the images are opened with
	s     *ckpt.Store
	acks  []*ack
	async []*ack // Async writes not yet vouched for by a Flush or Close
	mark  int
	marks []int
	names map[int]string
	seq   int
}

func newLife(t *testing.T, opts ckpt.Options) *life {
	return &life{t: t, fs: Mount(t), opts: opts, names: map[int]string{}}
}

func (l *life) path(name string) string { return filepath.Join(l.fs.Dir, name) }

// step marks a point after what was just done.
func (l *life) step(what string) {
	l.mark++
	l.fs.Record.Mark(l.mark)
	l.marks = append(l.marks, l.mark)
	l.names[l.mark] = what
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
	a := &ack{file: "s.db", thread: thread, id: id, value: v}
	l.acks = append(l.acks, a)
	switch d {
	case ckpt.Sync:
		a.from = l.mark + 1
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
		a.from = l.mark + 1
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
	for _, a := range l.acks {
		if a.file == "s.db" && a.from != 0 && a.from <= l.mark+1 && a.until == 0 {
			c := *a
			c.file, c.from = file, l.mark+1
			l.acks = append(l.acks, &c)
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
	for _, a := range l.acks {
		if a.file == "s.db" {
			newest[a.thread] = a
		}
	}
	for _, a := range l.acks {
		if a.file == "s.db" && newest[a.thread] != a && a.until == 0 {
			a.until = l.mark + 1
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
	if n := l.fs.Record.Unknown; n != 0 {
		l.t.Fatalf("powerfs: %d writes or syncs to nodes the record could not name", n)
	}
	losses := []Loss{{Keep: 0, Tear: 0}, {Keep: 0, Tear: 1}, {Keep: 0.5, Tear: 0.5}, {Keep: 0.8, Tear: 1}, {Keep: 0.2, Tear: 0.5}}
	checked, failed := 0, 0
	for _, m := range l.marks {
		for k := range perMark {
			rng := rand.New(rand.NewPCG(seed, uint64(m)<<16|uint64(k)))
			loss := losses[k%len(losses)]
			im, err := l.fs.Record.Image(m, rng, loss)
			if err != nil {
				l.t.Fatal(err)
			}
			checked++
			if err := l.checkImage(im, m); err != nil {
				failed++
				if failed <= 5 {
					l.t.Errorf("power cut after mark %d (%s), image %d (keep %.1f, tear %.1f; %d ops lost or torn, %d kept): %v",
						m, l.names[m], k, loss.Keep, loss.Tear, im.Lost, im.Kept, err)
				}
			}
		}
	}
	if failed > 0 {
		l.t.Errorf("%d of %d images failed", failed, checked)
	}
	l.t.Logf("%d marks, %d images checked, %d ops recorded", len(l.marks), checked, len(l.fs.Record.Ops()))
	return checked
}

func (l *life) checkImage(im *Image, m int) error {
	dir := l.t.TempDir()
	if err := im.WriteTo(dir); err != nil {
		return err
	}
	files := map[string]bool{"s.db": true}
	for _, a := range l.acks {
		if a.from != 0 && a.from <= m && (a.until == 0 || m < a.until) {
			files[a.file] = true
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
		for _, a := range l.acks {
			if a.file == "s.db" && a.from != 0 && a.from <= m && (a.until == 0 || m < a.until) {
				return fmt.Errorf("the store's file is gone, with write %s/%s acknowledged durable", a.thread, a.id)
			}
		}
		return nil
	}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return fmt.Errorf("Open refused: %w", err)
	}
	defer s.Close()
	base := filepath.Base(path)
	for _, a := range l.acks {
		if a.file != base || a.from == 0 || a.from > m || (a.until != 0 && m >= a.until) {
			continue
		}
		snap, err := s.Load(ctx, a.thread, a.id)
		if err != nil {
			return fmt.Errorf("write %s/%s acknowledged durable: %w", a.thread, a.id, err)
		}
		st, err := snap.StateMap()
		if err != nil {
			return fmt.Errorf("write %s/%s: %w", a.thread, a.id, err)
		}
		if got, _ := st["v"].(string); got != a.value {
			return fmt.Errorf("write %s/%s holds %.20q, want %.20q", a.thread, a.id, got, a.value)
		}
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

// TestPowerCutNewStoreWAL: the same with the log.
func TestPowerCutNewStoreWAL(t *testing.T) {
	opts := ckpt.Options{}
	l := newLife(t, opts)
	l.open(opts)
	for range 3 {
		l.save("a", ckpt.Sync, 10)
	}
	l.close()
	l.check(1, 5)
}

// TestPowerCutNewStoreNoWAL: a new store without the log, a few Sync
// writes. The first one's acknowledgement needs s.db's directory entry
// durable: bbolt creates the file and never fsyncs the directory.
func TestPowerCutNewStoreNoWAL(t *testing.T) {
	opts := ckpt.Options{NoWAL: true}
	l := newLife(t, opts)
	l.open(opts)
	for range 3 {
		l.save("a", ckpt.Sync, 10)
	}
	l.close()
	l.check(1, 5)
}

// TestPowerCutAfterCompact: Sync writes after a Compact, applied to the
// new file, then a write that starts the log's next pass (a Compact has
// the log cut back there). The applied writes are then in bbolt alone,
// so its commit must have been fsync'd.
func TestPowerCutAfterCompact(t *testing.T) {
	opts := ckpt.Options{}
	l := newLife(t, opts)
	l.open(opts)
	l.save("a", ckpt.Sync, 10)
	l.do("Compact", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
	l.save("a", ckpt.Sync, 10)
	l.do("ApplyLog", func(ctx context.Context, s *ckpt.Store) error { return s.ApplyLog(ctx) })
	l.save("b", ckpt.Sync, 10)
	l.save("b", ckpt.Sync, 10)
	l.close()
	l.check(5, 5)
}

// TestPowerCutNoSyncNoWAL: without the log, Sync saves, then NoSync
// ones. A power cut may take the NoSync writes, never the Sync ones
// before them, nor leave a file Open refuses.
func TestPowerCutNoSyncNoWAL(t *testing.T) {
	opts := ckpt.Options{NoWAL: true}
	l := newLife(t, opts)
	l.open(opts)
	for range 2 {
		l.save("a", ckpt.Sync, 10)
	}
	for range 4 {
		l.save("a", ckpt.NoSync, 10)
	}
	l.save("a", ckpt.Sync, 10)
	l.close()
	l.check(6, 10)
}
