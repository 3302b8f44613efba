package ckpt_test

// The h118 hunt's owners, continued: deletes, Prune, DeleteForRuns,
// CopyThread, reading their own threads back, and each owner's loop.

import (
	"context"
	"errors"
	"slices"

	"github.com/ckpt-go/ckpt"
)

func (o *h118Owner) markDeleted(sel func(e *h118Entry) bool) []*h118Entry {
	m := o.h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := o.h.tick()
	var out []*h118Entry
	for _, th := range m.threads {
		for _, e := range th.entries {
			if e.status != h118Failed && e.delAck == 0 && sel(e) {
				if e.delStart == 0 {
					e.delStart = now
				}
				out = append(out, e)
			}
		}
	}
	return out
}

func (o *h118Owner) deleted(es []*h118Entry, err error) {
	if err != nil || o.h.mode.async {
		// An Async delete is only queued: a read may still show them.
		return
	}
	m := o.h.m
	m.mu.Lock()
	now := o.h.tick()
	for _, e := range es {
		e.delAck = now
	}
	m.mu.Unlock()
}

func (o *h118Owner) deleteThread(th *h118Thread) {
	h := o.h
	es := o.markDeleted(func(e *h118Entry) bool { return e.th == th })
	var err error
	if o.r.IntN(2) == 0 {
		err = h.call("DeleteThread", func(ctx context.Context) error { return h.store().DeleteThread(ctx, th.name) })
	} else {
		err = h.call("Prune", func(ctx context.Context) error {
			return h.store().Prune(ctx, []string{th.name, "no-such-thread"}, ckpt.PruneDelete)
		})
	}
	o.deleted(es, err)
	h.note(th, "delete thread: %d entries, err %v", len(es), err)
	if err == nil {
		delete(o.heads, h118HeadKey(th, ""))
		delete(o.heads, h118HeadKey(th, "sub"))
		return
	}
	if o.stopped = h.unexpected("DeleteThread", err); !o.stopped {
		o.resync(th)
	}
}

func (o *h118Owner) pruneLatest(th *h118Thread) {
	h := o.h
	h.m.mu.Lock()
	newest := map[string]*h118Entry{}
	for _, e := range th.entries {
		if e.status != h118Failed && e.delAck == 0 && e.id != "" && (newest[e.ns] == nil || e.id > newest[e.ns].id) {
			newest[e.ns] = e
		}
	}
	h.m.mu.Unlock()
	es := o.markDeleted(func(e *h118Entry) bool { return e.th == th && newest[e.ns] != e })
	err := h.call("Prune", func(ctx context.Context) error {
		return h.store().Prune(ctx, []string{th.name}, ckpt.PruneKeepLatest)
	})
	o.deleted(es, err)
	var kept []string
	for ns, e := range newest {
		kept = append(kept, ns+"/"+e.id)
	}
	h.note(th, "prune keep latest %v: %d entries, err %v", kept, len(es), err)
	if err != nil {
		if o.stopped = h.unexpected("Prune", err); !o.stopped {
			o.resync(th)
		}
	}
}

func (o *h118Owner) deleteRuns() {
	h := o.h
	if len(o.runs) == 0 {
		return
	}
	run := o.runs[o.r.IntN(len(o.runs))]
	es := o.markDeleted(func(e *h118Entry) bool { return e.run == run })
	err := h.call("DeleteForRuns", func(ctx context.Context) error {
		return h.store().DeleteForRuns(ctx, []string{run, "no-such-run"})
	})
	o.deleted(es, err)
	for _, th := range append(slices.Clone(o.savers), o.simple, o.copy) {
		var ids []string
		for _, e := range es {
			if e.th == th {
				ids = append(ids, e.ns+"/"+e.id)
			}
		}
		h.note(th, "delete run %s %v, err %v", run, ids, err)
	}
	if o.stopped = h.unexpected("DeleteForRuns", err); o.stopped {
		return
	}
	for _, th := range append(slices.Clone(o.savers), o.simple) {
		o.resync(th)
		if o.stopped {
			return
		}
	}
}

func (o *h118Owner) copyThread() {
	h := o.h
	srcs := append(slices.Clone(o.savers), o.simple)
	src := srcs[o.r.IntN(len(srcs))]
	dst := o.copy
	replace := o.r.IntN(2) == 0
	m := h.m
	m.mu.Lock()
	start := h.tick()
	dstLive := false
	for _, e := range dst.entries {
		if e.status != h118Failed && e.delAck == 0 {
			dstLive = true
		}
	}
	srcReq := false
	var copies []*h118Entry
	for _, e := range src.entries {
		if e.status == h118Failed || e.delAck != 0 {
			continue
		}
		if m.required(e, start, start, true) {
			srcReq = true
		}
		c := &h118Entry{ns: e.ns, op: e.op, id: e.id, parent: e.parent, owner: e.owner, run: e.run, step: e.step,
			state: e.state, versions: e.versions, old: e.old, async: false, start: start, copyOf: e, copyStart: start,
			pw: map[string]*h118PW{}, fullKeys: e.fullKeys}
		for k, p := range e.pw {
			np := &h118PW{special: p.special, path: p.path}
			for _, v := range p.vals {
				nv := *v
				nv.async = false
				np.vals = append(np.vals, &nv)
			}
			c.pw[k] = np
		}
		copies = append(copies, c)
	}
	var olds []*h118Entry
	if replace {
		for _, e := range dst.entries {
			if e.status != h118Failed && e.delAck == 0 {
				if e.delStart == 0 {
					e.delStart = start
				}
				olds = append(olds, e)
			}
		}
	}
	for _, c := range copies {
		c.status = h118Inflight
		dst.add(c)
	}
	m.mu.Unlock()
	// Sync also on an Async store: its ErrExists and ErrNotFound would
	// come back only from a later Flush, for no call in particular.
	err := h.call("CopyThread", func(ctx context.Context) error {
		return h.store().CopyThread(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: ckpt.Sync}), src.name, dst.name, ckpt.CopyOptions{Replace: replace})
	})
	m.mu.Lock()
	end := h.tick()
	for _, c := range copies {
		c.copyEnd = end
		c.ack = end
		if err == nil {
			c.status = h118Acked
			for _, p := range c.pw {
				for _, v := range p.vals {
					if v.status == h118Acked {
						v.ack = end
					}
				}
			}
		} else {
			c.status = h118Failed
			if c.observedInFlight {
				h.find("CopyThread %s -> %s failed (%v) after a read showed its copy %s", src.name, dst.name, err, c.id)
			}
		}
	}
	if err == nil && !h.mode.async {
		for _, e := range olds {
			e.delAck = end
		}
	}
	m.mu.Unlock()
	h.note(src, "copy to %s replace %v: %d entries, err %v", dst.name, replace, len(copies), err)
	h.note(dst, "copy from %s replace %v: %d entries, err %v", src.name, replace, len(copies), err)
	switch {
	case err == nil:
	case errors.Is(err, ckpt.ErrExists):
		if replace || !dstLive {
			h.find("CopyThread %s -> %s (replace %v, destination live %v): %v", src.name, dst.name, replace, dstLive, err)
		}
	case errors.Is(err, ckpt.ErrNotFound):
		if srcReq {
			h.find("CopyThread %s -> %s: source holds acknowledged checkpoints, but %v", src.name, dst.name, err)
		}
	default:
		o.stopped = h.unexpected("CopyThread", err)
	}
}

// reads of the owner's own threads: the head it wrote must be the newest.
func (o *h118Owner) readOwn(th *h118Thread, ns string) {
	h := o.h
	if h.mode.async {
		return
	}
	head := o.heads[h118HeadKey(th, ns)]
	if head == nil || head.async || th.kind == "old" {
		return
	}
	r0 := h.tick()
	var tup *ckpt.Tuple
	err := h.call("Reader.GetTuple", func(ctx context.Context) error {
		var err error
		tup, err = o.reader.GetTuple(ctx, ckpt.Config{ThreadID: th.name, CheckpointNS: ns})
		return err
	})
	r1 := h.tick()
	if err != nil {
		if errors.Is(err, ckpt.ErrNotFound) {
			h.find("own head of %q ns %q (%s) not found", th.name, ns, head.id)
			return
		}
		o.stopped = h.unexpected("Reader.GetTuple", err)
		return
	}
	h.m.mu.Lock()
	e, cerr := h.m.check(h118FromTuple(tup), r0, r1, false)
	h.m.mu.Unlock()
	if cerr != nil {
		h.find("own head: %v", cerr)
		return
	}
	if e != head && tup.Config.CheckpointID < head.id {
		h.find("own head of %q ns %q: read %s, but wrote %s (acknowledged)", th.name, ns, tup.Config.CheckpointID, head.id)
	}
}

func (o *h118Owner) loop() {
	h := o.h
	for !h.stop.Load() && !o.stopped {
		th := o.savers[o.r.IntN(len(o.savers))]
		ns := []string{"", "sub"}[o.r.IntN(2)]
		switch x := o.r.IntN(100); {
		case x < 28:
			o.put(th, ns, "plain")
		case x < 40:
			o.put(th, ns, "full")
		case x < 44:
			o.put(th, ns, "fork")
		case x < 47:
			o.put(th, ns, "ifhead")
		case x < 48:
			o.put(th, ns, "stale")
		case x < 49:
			o.put(th, ns, "reuse")
		case x < 50:
			o.put(th, ns, "reuse-same")
		case x < 60:
			o.putWrites(th, ns)
		case x < 70:
			o.save(o.simple, "plain")
		case x < 73:
			o.save(o.simple, "fork")
		case x < 75:
			o.save(o.simple, "ifhead")
		case x < 76:
			o.save(o.simple, "stale")
		case x < 80:
			o.putWrites(o.simple, "")
		case x < 81:
			o.deleteThread([]*h118Thread{th, o.simple, o.copy}[o.r.IntN(3)])
		case x < 82:
			o.pruneLatest([]*h118Thread{th, o.simple, o.copy}[o.r.IntN(3)])
		case x < 83:
			o.deleteRuns()
		case x < 86:
			o.copyThread()
		default:
			o.readOwn(th, ns)
		}
	}
}
