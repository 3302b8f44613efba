package ckpt_test

// Issue 14, held-out specs written from the text alone: the model
// of a store the flip tests damage. Every stored item (a channel value, a
// list item kept in delta segments, metadata, a pending write, a
// checkpoint record) carries a random marker string, so a test can find it
// in the closed file, flip a byte inside it, and know exactly which
// checkpoints read it.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// spec14Kind says what kind of record a marker lives in.
type spec14Kind int

const (
	spec14Value  spec14Kind = iota // a whole channel value
	spec14Item                     // a list item (delta segments)
	spec14Meta                     // metadata
	spec14Write                    // a pending write's value
	spec14Record                   // the checkpoint record (VersionsSeen)
)

func (k spec14Kind) String() string {
	return [...]string{"value", "list item", "metadata", "pending write", "checkpoint record"}[k]
}

// spec14Marker is one marker and where it is stored.
type spec14Marker struct {
	text             string
	kind             spec14Kind
	thread, ns       string
	channel, version string // for values and list items
}

// spec14Checkpoint is what one checkpoint must read back as.
type spec14Checkpoint struct {
	thread, ns, id string
	parent         string
	state          map[string]any // decoded generically
	versions       map[string]string
	meta           map[string]any
	writes         map[string]any // task id -> value
	deps           []string       // markers this checkpoint reads
}

func (c *spec14Checkpoint) key() string { return c.thread + "\x00" + c.ns + "\x00" + c.id }

// spec14Model is every checkpoint of a store and its markers.
type spec14Model struct {
	cps     []*spec14Checkpoint
	markers map[string]*spec14Marker
	rng     *rand.Rand
}

func newSpec14Model(seed uint64) *spec14Model {
	return &spec14Model{markers: map[string]*spec14Marker{}, rng: rand.New(rand.NewPCG(seed, 1414))}
}

// mark returns a new marker of 20 random letters (upper case and digits
// only: nothing else in a store looks like it).
func (m *spec14Model) mark(kind spec14Kind, thread, ns, channel, version string) string {
	const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		b[i] = letters[m.rng.IntN(len(letters))]
	}
	text := string(b)
	m.markers[text] = &spec14Marker{text: text, kind: kind, thread: thread, ns: ns, channel: channel, version: version}
	return text
}

// fillPut writes a chain of steps checkpoints with Put into thread and
// namespace ns: a list channel "log" appended one item a step (stored as
// delta segments), a string "note" changed every other step, a map "cfg"
// written once and shared by every checkpoint, metadata, VersionsSeen and
// one pending write per checkpoint, each with markers.
func (m *spec14Model) fillPut(t *testing.T, s *ckpt.Store, thread, ns string, steps int) {
	t.Helper()
	ctx := context.Background()
	cfgVal := map[string]any{"mode": "", "n": int64(steps)}
	cfgVal["mode"] = m.mark(spec14Value, thread, ns, "cfg", "c1")
	var items []any
	var itemMarks []string
	note, noteMark, noteVer := "", "", ""
	cfg := ckpt.Config{ThreadID: thread, CheckpointNS: ns}
	for step := range steps {
		ver := "v" + strconv.Itoa(step+1)
		newVersions := map[string]string{"log": ver}
		if step == 0 {
			newVersions["cfg"] = "c1"
		}
		mark := m.mark(spec14Item, thread, ns, "log", ver)
		items = append(items, mark)
		itemMarks = append(itemMarks, mark)
		if step%2 == 0 {
			noteVer = ver
			noteMark = m.mark(spec14Value, thread, ns, "note", noteVer)
			note = "note " + noteMark
			newVersions["note"] = noteVer
		}
		versions := map[string]string{"log": ver, "cfg": "c1", "note": noteVer}
		metaMark := m.mark(spec14Meta, thread, ns, "", "")
		recMark := m.mark(spec14Record, thread, ns, "", "")
		meta := ckpt.Metadata{"step": step, "tag": metaMark}
		list := append([]any(nil), items...)
		cp := ckpt.Checkpoint{
			ChannelValues:   map[string]any{"log": list, "cfg": cfgVal, "note": note},
			ChannelVersions: versions,
			VersionsSeen:    map[string]map[string]string{"agent": {recMark: ver}},
		}
		parent := cfg.CheckpointID
		next, err := s.Put(ctx, cfg, cp, meta, newVersions)
		if err != nil {
			t.Fatal(err)
		}
		writeMark := m.mark(spec14Write, thread, ns, "", "")
		task := "task-" + strconv.Itoa(step)
		if err := s.PutWrites(ctx, next, []ckpt.Write{{Channel: "inbox", Value: "write " + writeMark}}, task, "path"); err != nil {
			t.Fatal(err)
		}
		deps := append([]string{cfgVal["mode"].(string), noteMark, metaMark, recMark, writeMark}, itemMarks...)
		m.cps = append(m.cps, &spec14Checkpoint{
			thread: thread, ns: ns, id: next.CheckpointID, parent: parent,
			state:    map[string]any{"log": list, "cfg": map[string]any{"mode": cfgVal["mode"], "n": int64(steps)}, "note": note},
			versions: versions,
			meta:     map[string]any{"step": int64(step), "tag": metaMark},
			writes:   map[string]any{task: "write " + writeMark},
			deps:     deps,
		})
		cfg = next
	}
}

// fillSave writes a thread with the simple API: a growing "messages" list,
// a "topic" string, a fork from the third checkpoint (Save with
// WriteOptions.Parent) that drops "topic" and later adds it back. The
// versions Save chose are read back with GetTuple.
func (m *spec14Model) fillSave(t *testing.T, s *ckpt.Store, thread string, steps int) {
	t.Helper()
	ctx := context.Background()
	type st struct {
		msgs  []string // markers of the list's items
		topic string   // marker, "" when dropped
	}
	var ids []string
	var states []st
	save := func(parent string, cur st, step int) {
		t.Helper()
		state := map[string]any{}
		list := make([]any, len(cur.msgs))
		for i, mk := range cur.msgs {
			list[i] = "message " + mk
		}
		state["messages"] = list
		if cur.topic != "" {
			state["topic"] = "topic " + cur.topic
		}
		metaMark := m.mark(spec14Meta, thread, "", "", "")
		c := ctx
		if parent != "" {
			c = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: parent})
		}
		before := ""
		if parent == "" && len(ids) > 0 {
			before = ids[len(ids)-1]
		}
		id, err := s.Save(c, thread, state, ckpt.Metadata{"tag": metaMark, "step": step})
		if err != nil {
			t.Fatal(err)
		}
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointID: id})
		if err != nil {
			t.Fatal(err)
		}
		// Save's versions are its own: the markers learn them now.
		for _, mk := range cur.msgs {
			if mm := m.markers[mk]; mm.version == "" {
				mm.version = tp.Checkpoint.ChannelVersions["messages"]
			}
		}
		if cur.topic != "" && m.markers[cur.topic].version == "" {
			m.markers[cur.topic].version = tp.Checkpoint.ChannelVersions["topic"]
		}
		deps := append([]string{metaMark}, cur.msgs...)
		if cur.topic != "" {
			deps = append(deps, cur.topic)
		}
		p := parent
		if p == "" {
			p = before
		}
		m.cps = append(m.cps, &spec14Checkpoint{
			thread: thread, id: id, parent: p,
			state: state, versions: tp.Checkpoint.ChannelVersions,
			meta: map[string]any{"tag": metaMark, "step": int64(step)},
			deps: deps,
		})
		ids = append(ids, id)
		states = append(states, cur)
	}
	cur := st{}
	for step := range steps {
		cur.msgs = append(append([]string(nil), cur.msgs...), m.mark(spec14Item, thread, "", "messages", ""))
		if step%3 == 0 {
			cur.topic = m.mark(spec14Value, thread, "", "topic", "")
		}
		save("", cur, step)
	}
	// The fork: from the third checkpoint, "topic" dropped, then added
	// back with a new value.
	fork := states[2]
	fork.topic = ""
	fork.msgs = append(append([]string(nil), fork.msgs...), m.mark(spec14Item, thread, "", "messages", ""))
	save(ids[2], fork, 100)
	fork.msgs = append(append([]string(nil), fork.msgs...), m.mark(spec14Item, thread, "", "messages", ""))
	fork.topic = m.mark(spec14Value, thread, "", "topic", "")
	save("", fork, 101)
}

// check compares a tuple read back with the model: the exact state,
// versions, metadata and pending writes.
func (c *spec14Checkpoint) check(tp *ckpt.Tuple) error {
	if tp.Config.ThreadID != c.thread || tp.Config.CheckpointNS != c.ns || tp.Config.CheckpointID != c.id {
		return fmt.Errorf("read %+v, want %s/%q/%s", tp.Config, c.thread, c.ns, c.id)
	}
	state := map[string]any{}
	for ch, v := range tp.Checkpoint.ChannelValues {
		raw, ok := v.(ckpt.Raw)
		if !ok {
			return fmt.Errorf("channel %q holds %T", ch, v)
		}
		g, err := raw.Value()
		if err != nil {
			return fmt.Errorf("channel %q: %w", ch, err)
		}
		state[ch] = g
	}
	if !reflect.DeepEqual(state, c.state) {
		return fmt.Errorf("state %v, want %v", state, c.state)
	}
	if !reflect.DeepEqual(tp.Checkpoint.ChannelVersions, c.versions) {
		return fmt.Errorf("versions %v, want %v", tp.Checkpoint.ChannelVersions, c.versions)
	}
	if !reflect.DeepEqual(map[string]any(tp.Metadata), c.meta) {
		return fmt.Errorf("metadata %v, want %v", tp.Metadata, c.meta)
	}
	writes := map[string]any{}
	for _, w := range tp.PendingWrites {
		g, err := w.Value.Value()
		if err != nil {
			return fmt.Errorf("pending write of %q: %w", w.TaskID, err)
		}
		writes[w.TaskID] = g
	}
	if len(writes) == 0 && c.writes == nil {
		writes = nil
	}
	if !reflect.DeepEqual(writes, c.writes) {
		return fmt.Errorf("pending writes %v, want %v", writes, c.writes)
	}
	var parent string
	if tp.ParentConfig != nil {
		parent = tp.ParentConfig.CheckpointID
	}
	if parent != c.parent {
		return fmt.Errorf("parent %q, want %q", parent, c.parent)
	}
	return nil
}

// checkSnapshot compares a Snapshot (simple API) with the model.
func (c *spec14Checkpoint) checkSnapshot(sn *ckpt.Snapshot) error {
	if sn.ThreadID != c.thread || sn.CheckpointID != c.id || sn.ParentID != c.parent {
		return fmt.Errorf("snapshot %s/%s parent %s, want %s/%s parent %s", sn.ThreadID, sn.CheckpointID, sn.ParentID, c.thread, c.id, c.parent)
	}
	state, err := sn.StateMap()
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(state, c.state) {
		return fmt.Errorf("state %v, want %v", state, c.state)
	}
	if !reflect.DeepEqual(map[string]any(sn.Metadata), c.meta) {
		return fmt.Errorf("metadata %v, want %v", sn.Metadata, c.meta)
	}
	return nil
}
