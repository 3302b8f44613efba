package ckpt_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
	"pgregory.net/rapid"
)

// versionModel is the in-memory model of every live checkpoint of one
// thread: its parent and the state saved into it.
type versionModel struct {
	t       *rapid.T
	s       *ckpt.Store
	states  map[string]map[string]any
	parents map[string]string
	// stored records every (channel, version) a Put stored and the value,
	// so a refused Put can be told apart from a spurious refusal.
	stored map[[2]string]any
}

var propChannels = []string{"a", "b", "m"}

func (m *versionModel) value(ch string, prev any) any {
	if ch == "m" { // a list channel: append-deltas, forks, truncation
		l, _ := prev.([]any)
		switch rapid.IntRange(0, 3).Draw(m.t, "list op") {
		case 0, 1:
			out := slices.Clone(l)
			for range rapid.IntRange(1, 3).Draw(m.t, "append") {
				out = append(out, rapid.SampledFrom([]string{"x", "y", "z"}).Draw(m.t, "item"))
			}
			return out
		case 2:
			return []any{rapid.SampledFrom([]string{"x", "y"}).Draw(m.t, "item")}
		default:
			if len(l) > 0 {
				return slices.Clone(l[:rapid.IntRange(0, len(l)-1).Draw(m.t, "cut")])
			}
			return []any{}
		}
	}
	// A small pool, so values repeat and versions are shared and re-used.
	if rapid.Bool().Draw(m.t, "int") {
		return int64(rapid.IntRange(0, 2).Draw(m.t, "n"))
	}
	return rapid.SampledFrom([]string{"A", "B", "C"}).Draw(m.t, "s")
}

// pickParent returns "" (the newest checkpoint) or a live checkpoint.
func (m *versionModel) pickParent() string {
	if len(m.states) == 0 || rapid.Bool().Draw(m.t, "head") {
		return ""
	}
	return rapid.SampledFrom(slices.Sorted(maps.Keys(m.states))).Draw(m.t, "parent")
}

func (m *versionModel) head() string {
	if len(m.states) == 0 {
		return ""
	}
	return slices.Max(slices.Collect(maps.Keys(m.states)))
}

// derive mutates a copy of base: drop, re-add, change or keep each channel.
func (m *versionModel) derive(base map[string]any) map[string]any {
	next := maps.Clone(base)
	if next == nil {
		next = map[string]any{}
	}
	for _, ch := range propChannels {
		switch rapid.IntRange(0, 3).Draw(m.t, "channel op "+ch) {
		case 0:
			delete(next, ch)
		case 1:
			next[ch] = m.value(ch, next[ch])
		}
	}
	return next
}

func (m *versionModel) save() {
	parent := m.pickParent()
	base := m.states[parent]
	if parent == "" {
		base = m.states[m.head()]
	}
	state := m.derive(base)
	c := ctx
	if parent != "" {
		c = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: parent})
	}
	id, err := m.s.Save(c, "t", state, nil)
	if err != nil {
		m.t.Fatalf("Save: %v", err)
	}
	if parent == "" {
		parent = m.head()
	}
	m.states[id], m.parents[id] = state, parent
	m.check(id)
}

// put stores a child with Put under versions from a small pool, so
// versions collide across forks: either it succeeds and reads back what
// was put, or it is ErrVersionReused for a version the model saw stored
// with other content, and writes nothing.
func (m *versionModel) Put() {
	parent := m.pickParent()
	if parent == "" {
		parent = m.head()
	}
	state := m.derive(m.states[parent])
	versions := map[string]string{}
	for ch := range state {
		versions[ch] = rapid.SampledFrom([]string{"1", "2", "3"}).Draw(m.t, "version "+ch)
	}
	cp := ckpt.Checkpoint{ChannelValues: state, ChannelVersions: versions}
	cfg, err := m.s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent}, cp, nil, versions)
	if err != nil {
		var vc *ckpt.VersionConflictError
		if !errors.As(err, &vc) || !errors.Is(err, ckpt.ErrVersionReused) {
			m.t.Fatalf("Put: %v", err)
		}
		old, ok := m.stored[[2]string{vc.Channel, vc.Version}]
		if !ok || reflect.DeepEqual(norm(old), norm(state[vc.Channel])) {
			m.t.Fatalf("Put refused %+v, but the model stored %v (known %v) there, and puts %v", *vc, old, ok, state[vc.Channel])
		}
		m.checkCount()
		return
	}
	for ch, ver := range versions {
		m.stored[[2]string{ch, ver}] = state[ch]
	}
	m.states[cfg.CheckpointID], m.parents[cfg.CheckpointID] = state, parent
	m.check(cfg.CheckpointID)
}

// gc keeps the newest n checkpoints, as GC does.
func (m *versionModel) gc() {
	n := rapid.IntRange(1, 4).Draw(m.t, "keep")
	if _, err := m.s.GC(ctx, ckpt.Policy{KeepLast: n}); err != nil {
		m.t.Fatal(err)
	}
	ids := slices.Sorted(maps.Keys(m.states))
	for _, id := range ids[:max(0, len(ids)-n)] {
		delete(m.states, id)
		delete(m.parents, id)
	}
	// GC may sweep values no kept checkpoint reads; m.stored keeps them:
	// it only has to name the content a refusal compares with, and a later
	// successful Put under a swept version updates it.
	m.checkCount()
}

// norm turns a model value into what the store reads back.
func norm(v any) any {
	if l, ok := v.([]any); ok && len(l) == 0 {
		return []any{}
	}
	return v
}

func (m *versionModel) check(id string) {
	snap, err := m.s.Load(ctx, "t", id)
	if err != nil {
		m.t.Fatalf("Load %s: %v", id, err)
	}
	got, err := snap.StateMap()
	if err != nil {
		m.t.Fatal(err)
	}
	want := map[string]any{}
	for ch, v := range m.states[id] {
		want[ch] = norm(v)
	}
	if !reflect.DeepEqual(got, want) {
		m.t.Fatalf("checkpoint %s reads %v, saved %v", id, got, want)
	}
	if snap.ParentID != m.parents[id] {
		m.t.Fatalf("checkpoint %s has parent %q, model %q", id, snap.ParentID, m.parents[id])
	}
}

func (m *versionModel) checkCount() {
	n := 0
	for _, err := range m.s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			m.t.Fatal(err)
		}
		n++
	}
	if n != len(m.states) {
		m.t.Fatalf("%d checkpoints stored, model has %d", n, len(m.states))
	}
}

func (m *versionModel) checkAll() {
	m.checkCount()
	for id := range m.states {
		m.check(id)
	}
	// History walks the newest checkpoint's chain while the model has it.
	var want []string
	for id := m.head(); id != ""; id = m.parents[id] {
		if _, ok := m.states[id]; !ok {
			break
		}
		want = append(want, id)
	}
	var got []string
	for snap, err := range m.s.History(ctx, "t", ckpt.ListOptions{}) {
		if err != nil {
			m.t.Fatal(err)
		}
		got = append(got, snap.CheckpointID)
	}
	if !slices.Equal(got, want) {
		m.t.Fatalf("History %v, model chain %v", got, want)
	}
	// Branches: the live checkpoints no live checkpoint has as parent.
	isParent := map[string]bool{}
	for _, p := range m.parents {
		isParent[p] = true
	}
	var tips []string
	for id := range m.states {
		if !isParent[id] {
			tips = append(tips, id)
		}
	}
	slices.Sort(tips)
	slices.Reverse(tips)
	branches, err := m.s.Branches(ctx, "t")
	if err != nil {
		m.t.Fatal(err)
	}
	var gotTips []string
	for _, b := range branches {
		gotTips = append(gotTips, b.CheckpointID)
	}
	if !slices.Equal(gotTips, tips) {
		m.t.Fatalf("Branches %v, model %v", gotTips, tips)
	}
}

// TestVersionsProperty: random saves, forks (Save with a Parent, Put from
// an older checkpoint under colliding versions), drops, re-adds and GC:
// every checkpoint reads back exactly the state saved into it.
func TestVersionsProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "ckpt-versions-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		opts := ckpt.Options{NoWAL: rapid.Bool().Draw(rt, "nowal"), DeltaFold: rapid.IntRange(2, 4).Draw(rt, "K")}
		path := filepath.Join(dir, "v.db")
		s, err := ckpt.Open(path, opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { s.Close() }()
		m := &versionModel{t: rt, s: s, states: map[string]map[string]any{}, parents: map[string]string{}, stored: map[[2]string]any{}}
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op <= 5:
				m.save()
			case op <= 7:
				m.Put()
			case op == 8:
				m.gc()
			default:
				if err := m.s.Close(); err != nil {
					rt.Fatal(err)
				}
				if m.s, err = ckpt.Open(path, opts); err != nil {
					rt.Fatal(err)
				}
				s = m.s
			}
		}
		m.checkAll()
	})
}
