package ckpt_test

// The h118 hunt's owners: goroutines that each write their own threads
// (Put, PutFull, PutWrites, Save, forks) and note each call in the model.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

// ---- owners ----

type h118Owner struct {
	h       *h118Run
	name    string
	r       *rand.Rand
	savers  []*h118Thread // Put/PutFull/PutWrites, namespaces "" and "sub"
	simple  *h118Thread   // Save
	copy    *h118Thread   // CopyThread's destination
	heads   map[string]*h118Entry
	step    int64
	run     int
	runs    []string
	reader  *ckpt.Reader
	stopped bool
}

func h118HeadKey(th *h118Thread, ns string) string { return th.name + "\x00" + ns }

func (o *h118Owner) curRun() string { return fmt.Sprintf("%s-r%d", o.name, o.run) }

func (o *h118Owner) durability(th *h118Thread) (ckpt.Durability, bool) {
	if th.kind == "old" {
		// Its TTL may come at any moment: a write must fail at once.
		return ckpt.Sync, false
	}
	if o.r.IntN(10) != 0 {
		return ckpt.DurabilityDefault, o.h.mode.async
	}
	switch o.r.IntN(3) {
	case 0:
		return ckpt.Sync, false
	case 1:
		return ckpt.NoSync, false
	}
	return ckpt.Async, true
}

// strict: errors that only a synchronous write reports at once.
func (o *h118Owner) strict() bool { return !o.h.mode.async }

func (o *h118Owner) register(e *h118Entry, th *h118Thread) {
	m := o.h.m
	m.mu.Lock()
	e.start = o.h.tick()
	th.add(e)
	m.mu.Unlock()
}

func (o *h118Owner) settle(e *h118Entry, err error) {
	m := o.h.m
	m.mu.Lock()
	e.ack = o.h.tick()
	if err == nil {
		e.status = h118Acked
	} else {
		e.status = h118Failed
	}
	for _, p := range e.pw {
		for _, v := range p.vals {
			if v.status == h118Inflight {
				v.ack = e.ack
				v.status = e.status
			}
		}
	}
	if e.status == h118Failed && e.observedInFlight {
		o.h.find("thread %q op %s: a read showed it, then its write failed: %v", e.th.name, e.op, err)
	}
	m.mu.Unlock()
}

func (o *h118Owner) nextState(parent *h118Entry, tag string, versions bool) (map[string]any, map[string]string, map[string]string) {
	st := map[string]any{}
	vs := map[string]string{}
	if parent != nil {
		for k, v := range parent.state {
			st[k] = v
		}
		for k, v := range parent.versions {
			vs[k] = v
		}
	}
	nv := map[string]string{}
	set := func(ch string, v any) {
		st[ch] = v
		vs[ch] = tag
		nv[ch] = tag
	}
	set("v", tag)
	set("n", o.step)
	if _, ok := st["log"]; !ok || o.r.IntN(10) < 7 {
		old, _ := st["log"].([]string)
		set("log", append(slices.Clip(old), tag))
	}
	if o.r.IntN(25) == 0 {
		set("big", strings.Repeat(tag+"|", 6000/len(tag)+1))
	}
	if !versions {
		return st, nil, nil
	}
	return st, vs, nv
}

func (o *h118Owner) meta(e *h118Entry) ckpt.Metadata {
	return ckpt.Metadata{"op": e.op, "owner": e.owner, "run_id": e.run, "step": e.step, "thread": e.th.name}
}

func (o *h118Owner) newEntry(th *h118Thread, ns string) *h118Entry {
	o.step++
	if o.step%6 == 0 {
		o.run++
		o.runs = append(o.runs, o.curRun())
	}
	return &h118Entry{th: th, ns: ns, op: o.h.newOp(o.name), owner: o.name, run: o.curRun(), step: o.step, pw: map[string]*h118PW{}}
}

func (o *h118Owner) pickPW(e *h118Entry, full bool) ([]ckpt.TaskWrites, []string) {
	var tws []ckpt.TaskWrites
	var keys []string
	nt := 1
	if full {
		nt = 1 + o.r.IntN(2)
	}
	for range nt {
		task := fmt.Sprintf("task%d", o.r.IntN(1<<30))
		if !full && len(e.pw) > 0 && o.r.IntN(3) == 0 {
			// Again under a task already written: regular writes keep the
			// first value, special ones replace it.
			for k := range e.pw {
				task = k[:strings.LastIndexByte(k, '/')]
				break
			}
		}
		path := "path-" + task
		var ws []ckpt.Write
		for i := range 1 + o.r.IntN(3) {
			ch := "w" + strconv.Itoa(o.r.IntN(3))
			if o.r.IntN(5) == 0 {
				ch = []string{saverkit.ChannelError, saverkit.ChannelInterrupt}[o.r.IntN(2)]
			}
			val := fmt.Sprintf("%s|%s|%s|%d|%s", e.th.name, e.op, task, i, o.h.newOp(o.name))
			ws = append(ws, ckpt.Write{Channel: ch, Value: val})
			idx, special := saverkit.WriteIndex(ch, i)
			k := fmt.Sprintf("%s/%d", task, idx)
			keys = append(keys, k)
			mp := e.pw[k]
			if mp == nil {
				mp = &h118PW{special: special, path: path}
				e.pw[k] = mp
			}
			st := h118Inflight
			if !special {
				for _, v := range mp.vals {
					if v.status != h118Failed && v.status != h118Never {
						st = h118Never // first wins
					}
				}
			}
			_ = path
			mp.vals = append(mp.vals, &h118Val{val: ch + "=" + val, status: st})
		}
		tws = append(tws, ckpt.TaskWrites{TaskID: task, TaskPath: path, Writes: ws})
	}
	return tws, keys
}

func (o *h118Owner) pickEntry(th *h118Thread, ns string, safeOnly bool) *h118Entry {
	m := o.h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	var c []*h118Entry
	for _, e := range th.entries {
		if e.ns == ns && e.id != "" && e.status == h118Acked && e.delStart == 0 && (!safeOnly || (m.safe(e) && !e.old)) {
			c = append(c, e)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[o.r.IntN(len(c))]
}

// resync reads the heads of th back from the store (after a delete that
// may have removed them, or one whose outcome is unknown).
func (o *h118Owner) resync(th *h118Thread) {
	h := o.h
	if h.mode.async {
		if err := h.call("Flush", func(ctx context.Context) error { return h.store().Flush(ctx) }); err != nil {
			o.stopped = h.unexpected("Flush", err)
			h.noteFlushErr(err)
		}
	}
	for _, ns := range []string{"", "sub"} {
		var tup *ckpt.Tuple
		r0 := h.tick()
		err := h.call("GetTuple", func(ctx context.Context) error {
			var err error
			tup, err = h.store().GetTuple(ctx, ckpt.Config{ThreadID: th.name, CheckpointNS: ns})
			return err
		})
		r1 := h.tick()
		key := h118HeadKey(th, ns)
		if errors.Is(err, ckpt.ErrNotFound) {
			h.note(th, "resync ns %q: none", ns)
			delete(o.heads, key)
			continue
		}
		if err != nil {
			o.stopped = h.unexpected("resync GetTuple", err)
			return
		}
		h.note(th, "resync ns %q: %s", ns, tup.Config.CheckpointID)
		h.m.mu.Lock()
		e, cerr := h.m.check(h118FromTuple(tup), r0, r1, false)
		h.m.mu.Unlock()
		if cerr != nil {
			h.find("resync: %v", cerr)
			delete(o.heads, key)
			continue
		}
		o.heads[key] = e
	}
}

func (o *h118Owner) ctx(ctx context.Context, wo ckpt.WriteOptions) context.Context {
	return ckpt.WithWriteOptions(ctx, wo)
}

func (o *h118Owner) put(th *h118Thread, ns string, kind string) {
	h := o.h
	key := h118HeadKey(th, ns)
	head := o.heads[key]
	parent := head
	wo := ckpt.WriteOptions{}
	var async bool
	wo.Durability, async = o.durability(th)
	expect := []error{}
	var wantErr error
	switch kind {
	case "fork":
		safeOnly := async || o.r.IntN(2) == 0
		parent = o.pickEntry(th, ns, safeOnly)
		if parent == nil {
			parent = head
		}
		if !safeOnly || th.kind == "old" {
			expect = append(expect, ckpt.ErrNotFound)
		}
	case "ifhead":
		wo.IfHead = true
		if th.kind == "old" {
			expect = append(expect, ckpt.ErrConflict)
		}
	case "stale":
		if async || head == nil {
			return
		}
		parent = o.pickEntry(th, ns, false)
		if parent == nil || parent == head {
			return
		}
		wo.IfHead = true
		wantErr = ckpt.ErrConflict
	case "reuse", "reuse-same":
		if async || head == nil || head.versions["v"] == "" {
			return
		}
	}
	if th.kind == "old" {
		expect = append(expect, ckpt.ErrNotFound) // the thread's TTL may have come
	}
	e := o.newEntry(th, ns)
	e.async = async
	e.state, e.versions, _ = o.nextState(parent, e.op, true)
	nv := map[string]string{}
	for ch, v := range e.versions {
		if v == e.op {
			nv[ch] = v
		}
	}
	switch kind {
	case "reuse":
		// Other bytes under the head's version of "v": refused.
		e.versions["v"] = head.versions["v"]
		nv["v"] = head.versions["v"]
		wantErr = ckpt.ErrVersionReused
	case "reuse-same":
		// The same bytes under the same version: shared, fine.
		e.state["v"] = head.state["v"]
		e.versions["v"] = head.versions["v"]
		nv["v"] = head.versions["v"]
	}
	cp := ckpt.Checkpoint{V: 4, ChannelValues: map[string]any{}, ChannelVersions: e.versions}
	for ch := range nv {
		cp.ChannelValues[ch] = e.state[ch]
	}
	if th.kind == "old" {
		cp.ID = h.oldID()
		e.id = cp.ID
		e.old = true
	}
	cfg := ckpt.Config{ThreadID: th.name, CheckpointNS: ns}
	if parent != nil {
		cfg.CheckpointID = parent.id
		e.parent = parent.id
	}
	full := kind == "full"
	var tws []ckpt.TaskWrites
	if full {
		tws, e.fullKeys = o.pickPW(e, true)
	}
	o.register(e, th)
	var out ckpt.Config
	op := "Put"
	if full {
		op = "PutFull"
	}
	err := h.call(op, func(ctx context.Context) error {
		var err error
		out, err = h.store().PutFull(o.ctx(ctx, wo), cfg, cp, o.meta(e), nv, tws)
		return err
	})
	if err == nil {
		h.m.mu.Lock()
		if e.id != "" && e.id != out.CheckpointID {
			h.find("%s returned id %s, given %s", op, out.CheckpointID, e.id)
		}
		e.id = out.CheckpointID
		h.m.mu.Unlock()
	}
	o.settle(e, err)
	h.note(th, "%s %s %s ns %q %s parent %s: %v", op, kind, e.op, ns, e.id, e.parent, err)
	if wantErr != nil {
		if err == nil {
			h.find("%s %s on %q: returned nil, want %v", op, kind, th.name, wantErr)
		} else if !errors.Is(err, wantErr) {
			o.stopped = h.unexpected(op+" "+kind, err, append(expect, ckpt.ErrNotFound)...)
		}
		if err == nil {
			o.heads[key] = e
		}
		return
	}
	if err != nil {
		if errors.Is(err, ckpt.ErrNotFound) {
			if parent != nil && parent == head && th.kind != "old" {
				h.m.mu.Lock()
				req := h.m.required(head, e.start, e.ack, true)
				h.m.mu.Unlock()
				if req {
					h.find("%s %s on %q ns %q: parent %s (the head, acknowledged, never deleted) not found: %v", op, kind, th.name, ns, head.id, err)
				}
			}
			o.resync(th)
			return
		}
		o.stopped = h.unexpected(op+" "+kind, err, expect...)
		return
	}
	o.heads[key] = e
}

func (o *h118Owner) putWrites(th *h118Thread, ns string) {
	h := o.h
	target := o.heads[h118HeadKey(th, ns)]
	wo := ckpt.WriteOptions{}
	var async bool
	wo.Durability, async = o.durability(th)
	if o.r.IntN(3) == 0 {
		if x := o.pickEntry(th, ns, async); x != nil {
			target = x
		}
	}
	if target == nil || target.id == "" {
		return
	}
	h.m.mu.Lock()
	tws, _ := o.pickPW(target, false)
	start := h.tick()
	var vals []*h118Val
	for _, tw := range tws {
		for i, w := range tw.Writes {
			idx, _ := saverkit.WriteIndex(w.Channel, i)
			mp := target.pw[fmt.Sprintf("%s/%d", tw.TaskID, idx)]
			v := mp.vals[len(mp.vals)-1]
			v.start, v.async = start, async
			vals = append(vals, v)
		}
	}
	h.m.mu.Unlock()
	tw := tws[0]
	err := h.call("PutWrites", func(ctx context.Context) error {
		return h.store().PutWrites(o.ctx(ctx, wo), ckpt.Config{ThreadID: th.name, CheckpointNS: ns, CheckpointID: target.id}, tw.Writes, tw.TaskID, tw.TaskPath)
	})
	h.m.mu.Lock()
	ack := h.tick()
	for _, v := range vals {
		v.ack = ack
		if err != nil {
			v.status = h118Failed
		} else if v.status == h118Inflight {
			v.status = h118Acked
		}
	}
	req := h.m.required(target, start, ack, true)
	h.m.mu.Unlock()
	if errors.Is(err, ckpt.ErrNotFound) {
		if req {
			h.find("PutWrites on %q ns %q checkpoint %s (acknowledged, never deleted, GC-safe): not found: %v", th.name, ns, target.id, err)
		}
		return
	}
	o.stopped = h.unexpected("PutWrites", err)
}

func (o *h118Owner) save(th *h118Thread, kind string) {
	h := o.h
	key := h118HeadKey(th, "")
	head := o.heads[key]
	parent := head
	wo := ckpt.WriteOptions{}
	var async bool
	wo.Durability, async = o.durability(th)
	var expect []error
	var wantErr error
	switch kind {
	case "fork":
		safeOnly := async || o.r.IntN(2) == 0
		parent = o.pickEntry(th, "", safeOnly)
		if parent == nil {
			return
		}
		wo.Parent = parent.id
		if !safeOnly {
			expect = append(expect, ckpt.ErrNotFound)
		}
	case "ifhead":
		if head == nil {
			return
		}
		wo.Parent, wo.IfHead = head.id, true
	case "stale":
		if async {
			return
		}
		parent = o.pickEntry(th, "", false)
		if parent == nil || parent == head {
			return
		}
		wo.Parent, wo.IfHead = parent.id, true
		wantErr = ckpt.ErrConflict
	}
	e := o.newEntry(th, "")
	e.async = async
	e.state, _, _ = o.nextState(parent, e.op, false)
	if parent != nil {
		e.parent = parent.id
	}
	o.register(e, th)
	var id string
	err := h.call("Save", func(ctx context.Context) error {
		var err error
		id, err = h.store().Save(o.ctx(ctx, wo), th.name, e.state, o.meta(e))
		return err
	})
	if err == nil {
		h.m.mu.Lock()
		e.id = id
		h.m.mu.Unlock()
	}
	o.settle(e, err)
	h.note(th, "save %s %s %s parent %s: %v", kind, e.op, e.id, e.parent, err)
	if wantErr != nil {
		if err == nil {
			h.find("Save %s on %q: nil, want %v", kind, th.name, wantErr)
			o.heads[key] = e
		} else if !errors.Is(err, wantErr) {
			o.stopped = h.unexpected("Save "+kind, err, ckpt.ErrNotFound)
		}
		return
	}
	if err != nil {
		if errors.Is(err, ckpt.ErrNotFound) {
			o.resync(th)
			return
		}
		o.stopped = h.unexpected("Save "+kind, err, expect...)
		return
	}
	o.heads[key] = e
}

// markDeleted marks the entries sel picks as being deleted (from now) and
// returns them.
