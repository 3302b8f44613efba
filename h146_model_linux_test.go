//go:build linux

package ckpt_test

// The model of h146_chain_linux_test.go: what every call wrote, by tag
// (each checkpoint's metadata "tag" names the call that wrote it, a copy
// keeps its source's), and the check of a store against it.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

const (
	h146Never int8 = iota // must not show (its call failed, or it was deleted)
	h146May               // in doubt (a call killed, an Async write not flushed, a failed GC)
	h146Must              // acknowledged: must show, exactly
)

// h146PW is one pending write key's (task/channel) allowed values.
type h146PW struct {
	vals map[string]bool
	ever map[string]bool // every value acknowledged (a rolled-back log may show an earlier one)
	must bool
}

type h146Cp struct {
	thread, tag, id, val string
	st                   int8
	old                  bool // an id a year old (GC's MaxAge and ThreadTTL)
	deleted              bool // acknowledged once, deleted since (a rolled-back log may show it)
	pw                   map[string]*h146PW
}

func (c *h146Cp) clone() *h146Cp {
	d := *c
	d.pw = map[string]*h146PW{}
	for k, p := range c.pw {
		d.pw[k] = &h146PW{vals: maps.Clone(p.vals), ever: maps.Clone(p.ever), must: p.must}
	}
	return &d
}

type h146Model struct {
	cps   map[string]*h146Cp // thread + "\x00" + tag
	async []*h146Cp          // Async writes acknowledged as queued, not yet flushed
}

func newH146Model() *h146Model { return &h146Model{cps: map[string]*h146Cp{}} }

func (m *h146Model) clone() *h146Model {
	n := newH146Model()
	for k, c := range m.cps {
		n.cps[k] = c.clone()
	}
	return n
}

func (m *h146Model) get(thread, tag string) *h146Cp { return m.cps[thread+"\x00"+tag] }
func (m *h146Model) add(c *h146Cp)                  { m.cps[c.thread+"\x00"+c.tag] = c }

// live returns thread's checkpoints that are not h146Never, oldest first
// (by id; those of unknown id last).
func (m *h146Model) live(thread string) []*h146Cp {
	var out []*h146Cp
	for _, c := range m.cps {
		if c.thread == thread && c.st != h146Never {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *h146Cp) int {
		switch {
		case a.id == "" && b.id == "":
			return 0
		case a.id == "":
			return 1
		case b.id == "":
			return -1
		}
		return cmpStr(a.id, b.id)
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *h146Model) threads() []string {
	set := map[string]bool{}
	for _, c := range m.cps {
		if c.st != h146Never {
			set[c.thread] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// settled: nothing in doubt, every id known, so retention can be modelled.
func (m *h146Model) settled() bool {
	for _, c := range m.cps {
		if c.st == h146May || (c.st == h146Must && c.id == "") {
			return false
		}
		for _, p := range c.pw {
			if len(p.vals) != 1 || !p.must {
				return false
			}
		}
	}
	return len(m.async) == 0
}

// musts returns the acknowledged checkpoints with a known id (PutWrites'
// targets).
func (m *h146Model) musts() []*h146Cp {
	var out []*h146Cp
	for _, k := range slices.Sorted(maps.Keys(m.cps)) {
		if c := m.cps[k]; c.st == h146Must && c.id != "" {
			out = append(out, c)
		}
	}
	return out
}

// doubt lowers every acknowledged checkpoint in cs to in doubt.
func doubt(cs []*h146Cp) {
	for _, c := range cs {
		if c.st == h146Must {
			c.st = h146May
		}
	}
}

func ulidTime(id string) time.Time {
	u, err := ulid.Parse(id)
	if err != nil {
		return time.Time{}
	}
	return ulid.Time(u.Time())
}

// h146Seen is what a store showed, by model key.
type h146Seen map[string]*ckpt.Tuple

// check reads every checkpoint of s (List, all threads and namespaces)
// and compares it with m: each shown exactly as written and allowed, each
// acknowledged one shown. only, if not empty, restricts the model to those
// threads. It returns the problems and what it read; readErr is a read
// that failed.
func (m *h146Model) check(ctx context.Context, s *ckpt.Store, only ...string) (problems []string, seen h146Seen, readErr error) {
	seen = h146Seen{}
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			readErr = err
			break
		}
		tag, _ := tp.Metadata["tag"].(string)
		th := tp.Config.ThreadID
		c := m.get(th, tag)
		if len(only) > 0 && !slices.Contains(only, th) {
			c = nil
		}
		switch {
		case c == nil:
			bad("thread %q shows checkpoint %s tag %q that was never written there", th, tp.Config.CheckpointID, tag)
			continue
		case c.st == h146Never:
			bad("thread %q shows checkpoint %s tag %q whose call failed or that was deleted", th, tp.Config.CheckpointID, tag)
			continue
		}
		seen[th+"\x00"+tag] = tp
		if c.id != "" && c.id != tp.Config.CheckpointID {
			bad("thread %q tag %q: id %s, want %s", th, tag, tp.Config.CheckpointID, c.id)
		}
		var v string
		if err := tp.Decode("v", &v); err != nil {
			readErr = errors.Join(readErr, fmt.Errorf("thread %q tag %q: %w", th, tag, err))
		} else if v != c.val {
			bad("thread %q tag %q: value of %d bytes differs from the %d written", th, tag, len(v), len(c.val))
		}
		shown := map[string]bool{}
		for _, w := range tp.PendingWrites {
			key := w.TaskID + "/" + w.Channel
			p := c.pw[key]
			var pv string
			if err := w.Value.Decode(&pv); err != nil {
				readErr = errors.Join(readErr, fmt.Errorf("thread %q tag %q write %s: %w", th, tag, key, err))
				continue
			}
			switch {
			case p == nil:
				bad("thread %q tag %q: pending write %s never written", th, tag, key)
			case !p.vals[pv]:
				bad("thread %q tag %q: pending write %s = %.30q, not a value written", th, tag, key, pv)
			}
			shown[key] = true
		}
		for key, p := range c.pw {
			if p.must && !shown[key] {
				bad("thread %q tag %q: acknowledged pending write %s missing", th, tag, key)
			}
		}
	}
	if readErr != nil {
		return problems, seen, readErr
	}
	for k, c := range m.cps {
		if len(only) > 0 && !slices.Contains(only, c.thread) {
			continue
		}
		if c.st == h146Must && seen[k] == nil {
			bad("thread %q: acknowledged checkpoint tag %q (id %s) missing", c.thread, c.tag, c.id)
		}
	}
	slices.Sort(problems)
	return problems, seen, nil
}

// settle resolves what was in doubt by what a freshly opened store showed
// (seen, from check): shown now, it is there for good.
func (m *h146Model) settle(seen h146Seen) {
	m.async = nil
	for k, c := range m.cps {
		tp := seen[k]
		if tp == nil {
			c.st = h146Never
			continue
		}
		c.st, c.id = h146Must, tp.Config.CheckpointID
		got := map[string]string{}
		for _, w := range tp.PendingWrites {
			var v string
			_ = w.Value.Decode(&v)
			got[w.TaskID+"/"+w.Channel] = v
		}
		for key, p := range c.pw {
			if v, ok := got[key]; ok {
				p.vals, p.must = map[string]bool{v: true}, true
				if p.ever == nil {
					p.ever = map[string]bool{}
				}
				p.ever[v] = true
			} else {
				delete(c.pw, key)
			}
		}
	}
}
