package ckpt_test

// The h118 hunt's maintenance loops: Flush, GC, Compact, Verify, Rekey,
// backups, Export and Import, each copy checked against the model.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
)

// ---- maintenance ----

func (h *h118Run) noteFlushErr(err error) {
	if err != nil && !errors.Is(err, ckpt.ErrClosed) {
		h.asyncMu.Lock()
		h.asyncErr = append(h.asyncErr, err)
		h.asyncMu.Unlock()
	}
}

func (h *h118Run) sleep(r *rand.Rand, max time.Duration) bool {
	d := time.Duration(r.Int64N(int64(max)))
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if h.stop.Load() {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return !h.stop.Load()
}

func (h *h118Run) flushLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 8))
	for h.sleep(r, 150*time.Millisecond) {
		start := h.tick()
		var err error
		if r.IntN(4) == 0 {
			err = h.call("ApplyLog", func(ctx context.Context) error { return h.store().ApplyLog(ctx) })
		} else {
			err = h.call("Flush", func(ctx context.Context) error { return h.store().Flush(ctx) })
			h.noteFlushErr(err)
			if err == nil {
				h.m.mu.Lock()
				h.m.flushes = append(h.m.flushes, h118Flush{start, h.tick()})
				h.m.mu.Unlock()
			}
		}
		if h.unexpected("Flush/ApplyLog", err) {
			return
		}
	}
}

func (h *h118Run) gcLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 9))
	for h.sleep(r, 250*time.Millisecond) {
		p := ckpt.Policy{KeepLast: h.m.keepLast, MaxAge: 30 * 24 * time.Hour, ThreadTTL: 60 * 24 * time.Hour}
		if r.IntN(5) == 0 {
			p.DryRun = true
			p.KeepLast = 1
		}
		if r.IntN(4) == 0 {
			p.Progress = func(ckpt.GCStats) {}
		}
		start := h.clk.Load()
		var st ckpt.GCStats
		err := h.call("GC", func(ctx context.Context) error {
			var err error
			st, err = h.store().GC(ctx, p)
			return err
		})
		h.m.mu.Lock()
		h.m.glog = append(h.m.glog, fmt.Sprintf("GC %d..%d keepLast %d dry %v: %+v %v", start, h.clk.Load(), p.KeepLast, p.DryRun, st, err))
		h.m.mu.Unlock()
		if h.unexpected("GC", err) {
			return
		}
	}
}

func (h *h118Run) compactLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 10))
	for h.sleep(r, 800*time.Millisecond) {
		start := h.clk.Load()
		err := h.call("Compact", func(ctx context.Context) error {
			_, err := h.store().Compact(ctx, nil)
			return err
		})
		h.m.mu.Lock()
		h.m.glog = append(h.m.glog, fmt.Sprintf("Compact %d..%d: %v", start, h.clk.Load(), err))
		h.m.mu.Unlock()
		if h.unexpected("Compact", err) {
			return
		}
	}
}

func (h *h118Run) verifyLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	for h.sleep(r, 600*time.Millisecond) {
		var rep *ckpt.VerifyReport
		err := h.call("Verify", func(ctx context.Context) error {
			var err error
			rep, err = h.store().Verify(ctx, ckpt.VerifyOptions{PagesOnly: r.IntN(4) == 0})
			return err
		})
		if h.unexpected("Verify", err) {
			return
		}
		if err == nil && !rep.OK() {
			h.find("Verify of the live store: %d problems: %v", len(rep.Problems), rep.Problems[:min(5, len(rep.Problems))])
		}
	}
}

func (h *h118Run) rekeyLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 12))
	for h.sleep(r, 700*time.Millisecond) {
		err := h.call("Rekey", func(ctx context.Context) error {
			_, err := h.store().Rekey(ctx)
			return err
		})
		if h.unexpected("Rekey", err) {
			return
		}
	}
}

// openCopy opens a copy (backup or import) with the run's keys.
func (h *h118Run) copyOpts() ckpt.Options {
	return ckpt.Options{Encryption: h.opts.Encryption}
}

func (h *h118Run) backupLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 13))
	n := 0
	for h.sleep(r, 900*time.Millisecond) {
		n++
		dst := filepath.Join(h.dir, fmt.Sprintf("backup-%d.db", n))
		start := h.tick()
		toWriter := r.IntN(3) == 0
		err := h.call("Backup", func(ctx context.Context) error {
			if toWriter {
				f, err := os.Create(dst)
				if err != nil {
					return err
				}
				err = h.store().Backup(ctx, f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}
			return h.store().BackupFile(ctx, dst, ckpt.BackupProgress(func(int64, int64) {}))
		})
		end := h.tick()
		if h.unexpected("Backup", err) {
			return
		}
		if err != nil {
			continue
		}
		h.checkCopy("backup", dst, start, end, true)
		os.Remove(dst)
	}
}

func (h *h118Run) exportLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 14))
	n := 0
	for h.sleep(r, 900*time.Millisecond) {
		n++
		var buf bytes.Buffer
		start := h.tick()
		var opts ckpt.ExportOptions
		if r.IntN(3) == 0 {
			names := h.threadNames()
			opts.Threads = []string{names[r.IntN(len(names))], names[r.IntN(len(names))]}
		}
		err := h.call("Export", func(ctx context.Context) error {
			_, err := h.store().Export(ctx, &buf, opts)
			return err
		})
		end := h.tick()
		if errors.Is(err, ckpt.ErrNotFound) && opts.Threads != nil {
			continue
		}
		if h.unexpected("Export", err) {
			return
		}
		if err != nil {
			continue
		}
		dst := filepath.Join(h.dir, fmt.Sprintf("export-%d.db", n))
		ierr := h.call("ImportFile", func(ctx context.Context) error {
			_, err := ckpt.ImportFile(ctx, dst, bytes.NewReader(buf.Bytes()), h.copyOpts(), ckpt.ImportOptions{})
			return err
		})
		if ierr != nil {
			h.find("ImportFile of an export: %v", ierr)
			continue
		}
		if opts.Threads == nil {
			h.checkCopy("export", dst, start, end, false)
		} else {
			h.checkCopyThreads("export", dst, start, end, opts.Threads)
		}
		os.Remove(dst)
	}
}

// checkCopy opens a backup (queued: Async writes count once queued; the
// prefix is by owner) or an import of an export (the prefix is by
// thread) and checks it against the model.
func (h *h118Run) checkCopy(what, path string, start, end int64, backup bool) {
	h.checkCopyThreads(what, path, start, end, nil)
	_ = backup
}

func (h *h118Run) checkCopyThreads(what, path string, start, end int64, only []string) {
	backup := what == "backup"
	var tups []*ckpt.Tuple
	err := h.call("open "+what, func(ctx context.Context) error {
		s, err := ckpt.Open(path, h.copyOpts())
		if err != nil {
			return err
		}
		defer s.Close()
		rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
		if err != nil {
			return fmt.Errorf("Verify: %w", err)
		}
		if !rep.OK() {
			return fmt.Errorf("Verify: %v", rep.Problems[:min(5, len(rep.Problems))])
		}
		for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				return err
			}
			tups = append(tups, tup)
		}
		return nil
	})
	if err != nil {
		h.find("%s %s: %v", what, path, err)
		return
	}
	m := h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	group := func(e *h118Entry) string {
		if backup {
			return e.owner
		}
		return e.th.name
	}
	// The prefix: the latest call of each group the copy shows.
	cut := map[string]int64{}
	shown := map[*h118Thread]map[string]bool{}
	var matched []*h118Entry
	for _, tup := range tups {
		e, err := m.check(h118FromTuple(tup), start, end, backup)
		if err != nil {
			h.find("%s: %v", what, err)
			continue
		}
		matched = append(matched, e)
		if shown[e.th] == nil {
			shown[e.th] = map[string]bool{}
		}
		shown[e.th][tup.Config.CheckpointNS+"/"+tup.Config.CheckpointID] = true
		g := group(e)
		if e.start > cut[g] {
			cut[g] = e.start
		}
		for _, p := range tup.PendingWrites {
			k := fmt.Sprintf("%s/%d", p.TaskID, p.Idx)
			if mp := e.pw[k]; mp != nil {
				for _, v := range mp.vals {
					if v.start > cut[g] && v.status == h118Acked && v.val == p.Channel+"="+h118MustDecode(p.Value) {
						cut[g] = v.start
					}
				}
			}
		}
	}
	for _, th := range m.threads {
		if only != nil && !slices.Contains(only, th.name) {
			continue
		}
		n := 0
		for _, e := range th.entries {
			r0 := max(start, cut[group(e)])
			if shown[th][e.ns+"/"+e.id] {
				// Shown: nothing deleted before the cut may be (unless
				// a later copy brought it back).
				if e.delAck != 0 && e.delAck < r0 {
					again := false
					for _, o := range th.byOp[e.op] {
						if o.ns == e.ns && o.id == e.id && m.legal(o, r0) {
							again = true
						}
					}
					if !again {
						h.find("%s: %q ns %q %s (op %s) deleted at %d, before the copy's cut %d, is in it", what, th.name, e.ns, e.id, e.op, e.delAck, r0)
					}
				}
				continue
			}
			if m.required(e, r0, end, backup) {
				if n++; n <= 3 {
					h.find("%s (%d..%d, cut %d): %q ns %q %s (op %s, acked %d) missing", what, start, end, r0, th.name, e.ns, e.id, e.op, e.ack)
				}
			}
		}
	}
	_ = matched
}

func h118MustDecode(r ckpt.Raw) string {
	var s string
	_ = ckptDecodeRaw(r, &s)
	return s
}

// importer: threads of a dump brought in, deleted, brought in again.
func (h *h118Run) importLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 15))
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range h.tmpl.threads {
			if !yield(n) {
				return
			}
		}
	})
	live := map[string]bool{}
	for n := range h.m.threads {
		if strings.HasPrefix(n, "imp-") {
			h.m.mu.Lock()
			for _, e := range h.m.threads[n].entries {
				if e.status == h118Acked && e.delAck == 0 {
					live[n] = true
				}
			}
			h.m.mu.Unlock()
		}
	}
	for h.sleep(r, 400*time.Millisecond) {
		name := names[r.IntN(len(names))]
		all := r.IntN(4) == 0
		if live[name] && !all {
			th := h.m.threads[name]
			h.m.mu.Lock()
			now := h.tick()
			var es []*h118Entry
			for _, e := range th.entries {
				if e.status != h118Failed && e.delAck == 0 {
					if e.delStart == 0 {
						e.delStart = now
					}
					es = append(es, e)
				}
			}
			h.m.mu.Unlock()
			err := h.call("DeleteThread", func(ctx context.Context) error { return h.store().DeleteThread(ctx, name) })
			h.note(th, "importer: delete: %v", err)
			if err == nil && !h.mode.async {
				h.m.mu.Lock()
				now := h.tick()
				for _, e := range es {
					e.delAck = now
				}
				h.m.mu.Unlock()
			}
			if err == nil {
				live[name] = false
			}
			if h.unexpected("DeleteThread imported", err) {
				return
			}
			continue
		}
		dumpKey := name
		targets := []string{name}
		if all {
			dumpKey = "all"
			targets = names
		}
		anyLive := false
		for _, n := range targets {
			anyLive = anyLive || live[n]
		}
		h.m.mu.Lock()
		start := h.tick()
		var copies []*h118Entry
		for _, n := range targets {
			th := h.m.thread(n, "imp", "imp")
			for _, te := range h.tmpl.threads[n].entries {
				c := &h118Entry{ns: te.ns, op: te.op, id: te.id, parent: te.parent, owner: "imp", run: te.run, step: te.step,
					state: te.state, versions: te.versions, start: start, copyOf: te, copyStart: 1, copyEnd: 1,
					pw: te.pw, fullKeys: te.fullKeys}
				th.add(c)
				copies = append(copies, c)
			}
		}
		h.m.mu.Unlock()
		err := h.call("Import", func(ctx context.Context) error {
			_, err := h.store().Import(ctx, bytes.NewReader(h.dumps[dumpKey]), ckpt.ImportOptions{})
			return err
		})
		for _, n := range targets {
			h.note(h.m.threads[n], "importer: import %s (%d..%d): %v", dumpKey, start, h.clk.Load(), err)
		}
		h.m.mu.Lock()
		end := h.tick()
		for _, c := range copies {
			c.ack = end
			if err == nil {
				c.status = h118Acked
			} else {
				c.status = h118Failed
				if c.observedInFlight {
					h.find("Import of %s failed (%v) after a read showed %q %s", dumpKey, err, c.th.name, c.id)
				}
			}
		}
		h.m.mu.Unlock()
		if err == nil {
			if anyLive {
				h.find("Import of %s returned nil though a thread of it was in the store", dumpKey)
			}
			for _, n := range targets {
				live[n] = true
			}
			continue
		}
		if errors.Is(err, ckpt.ErrExists) && anyLive {
			continue
		}
		if h.unexpected("Import", err) {
			return
		}
	}
}
