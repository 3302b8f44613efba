package browsertest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// The store the browser looks at: the thread `ckpt demo` writes (its eight
// steps, the metadata it stores, the pending writes of the parallel
// research step), built through the library because the demo lives in
// package main; plus a fork, a subgraph namespace and a thread whose id
// and values are hostile markup.

const (
	// Each payload sets window.pwned or opens a dialog if it ever runs.
	hostileThread = `<script>window.pwned=1</script>"><img src=x onerror=window.pwned=2>`
	hostileValue  = `"><img src=x onerror="window.pwned=3;alert(3)"><script>window.pwned=4;alert(4)</script>`
)

type message struct {
	Role    string `msgpack:"role"`
	Content string `msgpack:"content"`
}

type finding struct {
	Source string `msgpack:"source"`
	Note   string `msgpack:"note"`
}

type demoStep struct {
	node, route, reason string
	reply               string
	findings            []finding
	plan                string
}

var demoSteps = []demoStep{
	{node: "__input__", route: "planner", reason: "new question from the user"},
	{node: "planner", route: "research", reason: "the question compares two stores: look both up at once",
		plan: "look up bbolt and SQLite, then write a comparison"},
	{node: "research", route: "writer", reason: "both look-ups finished", findings: []finding{
		{"bbolt", "one file, one writer process, every commit fsync'd, readers never block"},
		{"SQLite", "one file, SQL queries, WAL mode lets readers run beside one writer"}}},
	{node: "writer", route: "critic", reason: "draft written", reply: "Draft: both are single-file stores; ..."},
	{node: "critic", route: "writer", reason: "the draft does not say when to pick which"},
	{node: "writer", route: "critic", reason: "draft revised", reply: "Draft 2: pick bbolt for ..., SQLite for ..."},
	{node: "critic", route: "responder", reason: "the draft answers the question"},
	{node: "responder", route: "__end__", reason: "answer sent to the user", reply: "bbolt suits an embedded Go key-value store; SQLite suits queries."},
}

type fixture struct {
	store   *ckpt.Store
	ids     []string // the demo thread's root checkpoints, oldest first
	fork    string
	hostile string // the hostile thread's checkpoint
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "demo.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{store: s}
	question := "Should my Go agent keep its checkpoints in bbolt or in SQLite?"
	msgs := []message{{"user", question}}
	findings := []finding{} // as the demo: an empty list from the start
	plan := ""
	for i, st := range demoSteps {
		if st.reply != "" {
			msgs = append(msgs, message{"assistant", st.reply})
		}
		findings = append(findings, st.findings...)
		if st.plan != "" {
			plan = st.plan
		}
		source := "loop"
		if i == 0 {
			source = "input"
		}
		state := map[string]any{"messages": msgs, "question": question, "findings": findings, "plan": plan}
		meta := ckpt.Metadata{"step": i + 1, "node": st.node, "route": st.route, "reason": st.reason, "source": source, "run_id": "run-660b42"}
		id, err := s.Save(ctx, "demo", state, meta)
		if err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, id)
		if i == 1 { // step 3's parallel tasks store their results on step 2's checkpoint
			for _, fd := range demoSteps[2].findings {
				task := "research:" + fd.Source
				if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: id}, []ckpt.Write{{Channel: "findings", Value: fd}}, task, "~"+task); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// A person forked the history after the planner with another plan.
	parent, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: f.ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for ch, v := range parent.Checkpoint.ChannelVersions {
		versions[ch] = v
	}
	versions["plan"] = "fork-1"
	out, err := s.Put(ctx, parent.Config, ckpt.Checkpoint{V: 1, ChannelValues: map[string]any{"plan": "look up bbolt only"}, ChannelVersions: versions},
		ckpt.Metadata{"step": 2, "node": "human", "route": "research", "reason": "edited the plan", "source": "update", "run_id": "run-98a61a"},
		map[string]string{"plan": "fork-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.fork = out.CheckpointID
	// The research step's subgraph, in its own namespace.
	prev := ""
	for i, src := range []string{"bbolt", "SQLite"} {
		out, err := s.Put(ctx, ckpt.Config{ThreadID: "demo", CheckpointNS: "research:1", CheckpointID: prev},
			ckpt.Checkpoint{V: 1, ChannelValues: map[string]any{"query": src}, ChannelVersions: map[string]string{"query": fmt.Sprint(i + 1)}},
			ckpt.Metadata{"step": i + 1, "node": "lookup", "route": "lookup", "reason": "look up " + src, "source": "loop", "run_id": "run-660b42"},
			map[string]string{"query": fmt.Sprint(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		prev = out.CheckpointID
	}
	if f.hostile, err = s.Save(ctx, hostileThread, map[string]any{hostileValue: hostileValue, "messages": []string{hostileValue}},
		ckpt.Metadata{"node": hostileValue, "reason": hostileValue}); err != nil {
		t.Fatal(err)
	}
	return f
}
