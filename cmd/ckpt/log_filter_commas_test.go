package main

import (
	"testing"
)

// TestLogFilterTakesCommaSeparatedConditions: docs/browser.md ties `ckpt log
// --filter` to the history browser's filter, `node=writer, step=4`, but
// the command read that as one condition, node="writer, step=4", and
// printed that no checkpoint matched it. One --filter takes conditions
// separated by commas as the browser reads them, repeated --filter flags
// add theirs, and the message for no match shows each value as --filter
// reads it back (a string with a comma quoted).
func TestLogFilterTakesCommaSeparatedConditions(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, c := range []struct {
		args  []string
		steps []float64
	}{
		{[]string{"--filter", "node=writer, step=4"}, []float64{4}},
		{[]string{"--filter", "node=writer,step=6"}, []float64{6}},
		{[]string{"--filter", "node=writer", "--filter", "step=4"}, []float64{4}},
		{[]string{"--filter", "node=critic, reason=the critic approved the draft", "--filter", "step=7"}, []float64{7}},
	} {
		got := decodeJSON[[]logEntry](t, ok(t, dir, append([]string{"log", db, "demo", "--json"}, c.args...)...))
		var steps []float64
		for _, e := range got {
			steps = append(steps, e.Step.(float64))
		}
		if len(steps) != len(c.steps) || !equalFloats(steps, c.steps) {
			t.Errorf("log %q: steps %v, want %v", c.args, steps, c.steps)
		}
	}
	for _, c := range []struct {
		filter, want string
	}{
		{"node=writer, step=5", `no checkpoint of thread "demo" with node=writer, step=5`},
		{`node="writer, step=4"`, `no checkpoint of thread "demo" with node="writer, step=4"`},
		{`step="4"`, `no checkpoint of thread "demo" with step="4"`},
	} {
		if got := ok(t, dir, "log", db, "demo", "--filter", c.filter).stdout; got != c.want+"\n" {
			t.Errorf("log --filter %q printed %q, want %q", c.filter, got, c.want)
		}
	}
	failsWith(t, runIn(t, dir, "", "log", db, "demo", "--filter", "node=writer, step"), 2, `--filter "step": want key=value`)
}
