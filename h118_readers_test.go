package ckpt_test

// The h118 hunt's readers: every kind of read, each checked against
// the model.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
)

// ---- readers ----

func (h *h118Run) threadNames() []string {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	var ns []string
	for n := range h.m.threads {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func (h *h118Run) checkShown(what string, sh *h118Shown, r0, r1 int64) *h118Entry {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	e, err := h.m.check(sh, r0, r1, false)
	if err != nil {
		h.find("%s: %v", what, err)
	}
	return e
}

// missing reports the entries of th (in ns, or any if ns is nil) that a
// read [r0, r1] had to show and did not; sel narrows them.
func (h *h118Run) missing(what string, th *h118Thread, ns *string, shown map[string]bool, r0, r1 int64, sel func(e *h118Entry) bool) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	n := 0
	for _, e := range th.entries {
		if (ns != nil && e.ns != *ns) || (sel != nil && !sel(e)) {
			continue
		}
		if !shown[e.ns+"/"+e.id] && h.m.required(e, r0, r1, false) {
			if n++; n <= 3 {
				h.find("%s of %q: acknowledged checkpoint ns %q %s (op %s, acked %d, read %d..%d) missing%s", what, th.name, e.ns, e.id, e.op, e.ack, r0, r1, h.m.dump(th))
			}
		}
	}
}

func (h *h118Run) readerLoop(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	rd := h.store().NewReader()
	names := h.threadNames()
	for !h.stop.Load() {
		name := names[r.IntN(len(names))]
		h.m.mu.Lock()
		th := h.m.threads[name]
		var pick *h118Entry
		if n := len(th.entries); n > 0 {
			pick = th.entries[r.IntN(n)]
			if pick.id == "" {
				pick = nil
			} else {
				// A copy: its owner sets fields under the lock.
				pk := *pick
				pick = &pk
			}
		}
		h.m.mu.Unlock()
		ns := []string{"", "sub"}[r.IntN(2)]
		if th.kind == "simple" {
			ns = ""
		}
		r0 := h.tick()
		var stop bool
		switch x := r.IntN(100); {
		case x < 20: // the newest
			var tup *ckpt.Tuple
			useReader := r.IntN(2) == 0
			err := h.call("GetTuple", func(ctx context.Context) error {
				var err error
				if useReader {
					tup, err = rd.GetTuple(ctx, ckpt.Config{ThreadID: name, CheckpointNS: ns})
				} else {
					tup, err = h.store().GetTuple(ctx, ckpt.Config{ThreadID: name, CheckpointNS: ns})
				}
				return err
			})
			r1 := h.tick()
			shownID := ""
			if err == nil {
				h.checkShown("GetTuple newest", h118FromTuple(tup), r0, r1)
				shownID = tup.Config.CheckpointID
			} else if !errors.Is(err, ckpt.ErrNotFound) {
				stop = h.unexpected("GetTuple newest", err)
				break
			}
			h.missing("GetTuple newest", th, &ns, map[string]bool{}, r0, r1, func(e *h118Entry) bool { return e.id > shownID })
		case x < 40: // by id
			if pick == nil {
				continue
			}
			var tup *ckpt.Tuple
			useReader := r.IntN(2) == 0
			cfg := ckpt.Config{ThreadID: name, CheckpointNS: pick.ns, CheckpointID: pick.id}
			err := h.call("GetTuple", func(ctx context.Context) error {
				var err error
				if useReader {
					tup, err = rd.GetTuple(ctx, cfg)
				} else {
					tup, err = h.store().GetTuple(ctx, cfg)
				}
				return err
			})
			r1 := h.tick()
			if err == nil {
				if e := h.checkShown("GetTuple by id", h118FromTuple(tup), r0, r1); e != nil && e.op != pick.op {
					h.find("GetTuple %v: op %s, want %s", cfg, e.op, pick.op)
				}
			} else if errors.Is(err, ckpt.ErrNotFound) {
				h.missing("GetTuple by id", th, &pick.ns, map[string]bool{}, r0, r1, func(e *h118Entry) bool { return e.op == pick.op && e.ns == pick.ns && e.id == pick.id })
			} else {
				stop = h.unexpected("GetTuple by id", err)
			}
		case x < 60: // List of a thread
			opts := ckpt.ListOptions{ThreadID: name}
			if r.IntN(2) == 0 {
				opts.Namespace = ckpt.NS(ns)
			}
			if r.IntN(3) == 0 {
				opts.Limit = 1 + r.IntN(6)
			}
			if pick != nil && r.IntN(4) == 0 {
				opts.Before = pick.id
			}
			var run string
			if pick != nil && r.IntN(4) == 0 {
				run = pick.run
				opts.Filter = map[string]any{"run_id": run}
			}
			var tups []*ckpt.Tuple
			err := h.call("List", func(ctx context.Context) error {
				for tup, err := range h.store().List(ctx, opts) {
					if err != nil {
						return err
					}
					tups = append(tups, tup)
				}
				return nil
			})
			r1 := h.tick()
			if err != nil {
				stop = h.unexpected("List", err)
				break
			}
			shown := map[string]bool{}
			last := ""
			for i, tup := range tups {
				id := tup.Config.CheckpointID
				if i > 0 && id >= last && !(id == last && false) {
					if id == last {
						h.find("List %+v: %s twice", opts, id)
					} else {
						h.find("List %+v: %s after %s (not newest first)", opts, id, last)
					}
				}
				last = id
				if tup.Config.ThreadID != name || (opts.Namespace != nil && tup.Config.CheckpointNS != ns) || (opts.Before != "" && id >= opts.Before) {
					h.find("List %+v gave %v", opts, tup.Config)
				}
				if run != "" && fmt.Sprint(tup.Metadata["run_id"]) != run {
					h.find("List %+v gave run %v", opts, tup.Metadata["run_id"])
				}
				h.checkShown("List", h118FromTuple(tup), r0, r1)
				shown[tup.Config.CheckpointNS+"/"+id] = true
			}
			if opts.Limit > 0 && len(tups) > opts.Limit {
				h.find("List %+v: %d tuples, limit %d", opts, len(tups), opts.Limit)
			}
			full := opts.Limit == 0 || len(tups) < opts.Limit
			var nsp *string
			if opts.Namespace != nil {
				nsp = &ns
			}
			h.missing("List", th, nsp, shown, r0, r1, func(e *h118Entry) bool {
				return (opts.Before == "" || e.id < opts.Before) && (run == "" || e.run == run) && (full || e.id > last)
			})
		case x < 66: // List of all threads, filtered
			owner := fmt.Sprintf("w%d", r.IntN(h.owners))
			opts := ckpt.ListOptions{Filter: map[string]any{"owner": owner}, Limit: 1 + r.IntN(30)}
			if r.IntN(3) == 0 {
				opts.Namespace = ckpt.NS("sub")
			}
			n := 0
			err := h.call("List all", func(ctx context.Context) error {
				for tup, err := range h.store().List(ctx, opts) {
					if err != nil {
						return err
					}
					n++
					if fmt.Sprint(tup.Metadata["owner"]) != owner || (opts.Namespace != nil && tup.Config.CheckpointNS != "sub") {
						h.find("List all %+v gave %v %v", opts, tup.Config, tup.Metadata)
					}
					h.checkShown("List all", h118FromTuple(tup), r0, r0)
				}
				return nil
			})
			if n > opts.Limit {
				h.find("List all: %d > limit %d", n, opts.Limit)
			}
			stop = h.unexpected("List all", err)
		case x < 80: // the simple API
			if th.kind == "old" {
				continue
			}
			var snaps []*ckpt.Snapshot
			var kind string
			err := h.call("History", func(ctx context.Context) error {
				s := h.store()
				switch r.IntN(5) {
				case 0:
					kind = "Latest"
					sn, err := s.Latest(ctx, name)
					if err == nil {
						snaps = append(snaps, sn)
					}
					return err
				case 1:
					if pick == nil || pick.ns != "" {
						return nil
					}
					kind = "Load"
					sn, err := s.Load(ctx, name, pick.id)
					if err == nil {
						snaps = append(snaps, sn)
					}
					return err
				case 2:
					kind = "Branches"
					var err error
					snaps, err = s.Branches(ctx, name)
					return err
				case 3:
					if pick == nil || pick.ns != "" {
						return nil
					}
					kind = "HistoryFrom"
					for sn, err := range s.HistoryFrom(ctx, name, pick.id, ckpt.ListOptions{Limit: 10}) {
						if err != nil {
							return err
						}
						snaps = append(snaps, sn)
					}
					return nil
				}
				kind = "History"
				for sn, err := range s.History(ctx, name, ckpt.ListOptions{}) {
					if err != nil {
						return err
					}
					snaps = append(snaps, sn)
				}
				return nil
			})
			r1 := h.tick()
			if err != nil && !errors.Is(err, ckpt.ErrNotFound) {
				stop = h.unexpected(kind, err)
				break
			}
			for i, sn := range snaps {
				h.checkShown(kind, h118FromSnap(name, sn), r0, r1)
				if (kind == "History" || kind == "HistoryFrom") && i > 0 && snaps[i-1].ParentID != sn.CheckpointID {
					h.find("%s of %q: %s follows %s whose parent is %s", kind, name, sn.CheckpointID, snaps[i-1].CheckpointID, snaps[i-1].ParentID)
				}
			}
		case x < 85:
			err := h.call("Threads", func(ctx context.Context) error {
				for ti, err := range h.store().Threads(ctx) {
					if err != nil {
						return err
					}
					h.m.mu.Lock()
					known := h.m.threads[ti.ThreadID] != nil
					h.m.mu.Unlock()
					if !known {
						h.find("Threads: unknown thread %q", ti.ThreadID)
					}
				}
				return nil
			})
			stop = h.unexpected("Threads", err)
		case x < 90:
			err := h.call("Thread", func(ctx context.Context) error {
				_, err := h.store().Thread(ctx, name)
				return err
			})
			stop = h.unexpected("Thread", err, ckpt.ErrNotFound)
		case x < 94:
			if pick == nil {
				continue
			}
			var got string
			err := h.call("ResolveID", func(ctx context.Context) error {
				var err error
				got, err = h.store().ResolveID(ctx, name, pick.ns, pick.id[:20])
				return err
			})
			if err == nil && !strings.HasPrefix(got, pick.id[:20]) {
				h.find("ResolveID %q %s: %s", name, pick.id[:20], got)
			}
			stop = h.unexpected("ResolveID", err, ckpt.ErrNotFound, ckpt.ErrInvalidConfig)
		default:
			err := h.call("Stats", func(ctx context.Context) error {
				_, err := h.store().Stats(ctx)
				_ = h.store().Metrics()
				return err
			})
			stop = h.unexpected("Stats", err)
		}
		if stop {
			return
		}
		time.Sleep(200 * time.Microsecond) // leave the writers some CPU
	}
}
