package main

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// finalView is what must not depend on whether a run crashed: the final
// state and channel versions, and per step the node, route, changed
// channels and number of pending writes (ids, times and run ids differ).
type finalView struct {
	State    map[string]any
	Versions map[string]string
	Steps    []string
}

func viewOf(t *testing.T, dir, db string) finalView {
	t.Helper()
	show := decodeJSON[map[string]any](t, ok(t, dir, "show", db, "demo", "--json"))
	var v finalView
	v.State, _ = show["state"].(map[string]any)
	v.Versions = map[string]string{}
	for k, x := range show["versions"].(map[string]any) {
		v.Versions[k] = x.(string)
	}
	for _, e := range decodeJSON[[]logEntry](t, ok(t, dir, "log", db, "demo", "--json")) {
		v.Steps = append(v.Steps, fmt.Sprintf("step=%v node=%v route=%v changed=%v writes=%d", e.Step, e.Node, e.Route, e.Changed, e.Writes))
	}
	return v
}

func TestDemoRunsEveryStepAndThenSaysItIsFinished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := ok(t, dir, "demo")
	for step := 1; step <= demoSteps; step++ {
		if !strings.Contains(r.stdout, fmt.Sprintf("step %d ", step)) {
			t.Fatalf("step %d missing:\n%s", step, r)
		}
	}
	if !strings.Contains(r.stdout, "task research:bbolt   done") || !strings.Contains(r.stdout, "task research:sqlite  done") {
		t.Fatalf("parallel tasks did not report:\n%s", r)
	}
	v := viewOf(t, dir, "demo.db")
	if len(v.Steps) != demoSteps || v.State["revisions"] != float64(1) || len(v.State["messages"].([]any)) != 2 {
		t.Fatalf("final view = %+v", v)
	}
	again := ok(t, dir, "demo")
	if !strings.Contains(again.stdout, `thread "demo" in demo.db is already finished (step 8`) || strings.Contains(again.stdout, "step 1 ") {
		t.Fatalf("second run did not say the thread is finished:\n%s", again)
	}
	fresh := ok(t, dir, "demo", "--fresh")
	if !strings.Contains(fresh.stdout, "new thread") || !reflect.DeepEqual(viewOf(t, dir, "demo.db"), v) {
		t.Fatalf("--fresh did not start again with the same outcome:\n%s", fresh)
	}
	other := ok(t, dir, "demo", "--thread", "second")
	if !strings.Contains(other.stdout, `new thread "second"`) {
		t.Fatalf("--thread did not start a new thread:\n%s", other)
	}
}

var resumedFrom = regexp.MustCompile(`resuming thread "demo" in demo.db from checkpoint ([0-9A-Z]{26}) \(step (\d+),`)

// TestDemoCrashAndResume kills the demo at several points and checks that
// the next run resumes from the newest checkpoint, does not run again the
// tasks whose writes were stored, and ends with the same state as a run
// that never crashed.
func TestDemoCrashAndResume(t *testing.T) {
	t.Parallel()
	refDir := t.TempDir()
	ok(t, refDir, "demo")
	want := viewOf(t, refDir, "demo.db")

	for _, crashAfter := range []int{2, 5, demoSteps} {
		t.Run(fmt.Sprintf("crash-after-%d", crashAfter), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			crashed := runIn(t, dir, "", "demo", "--crash-after", fmt.Sprint(crashAfter))
			if !crashed.killed || !strings.Contains(crashed.stdout, "killing the process") {
				t.Fatalf("want the process killed by SIGKILL:\n%s", crashed)
			}
			// What the crashed worker left: the newest checkpoint is step
			// crashAfter, and the file is consistent.
			head := decodeJSON[map[string]any](t, ok(t, dir, "show", "demo.db", "demo", "--json"))
			headMeta := head["metadata"].(map[string]any)
			if headMeta["step"] != float64(crashAfter) {
				t.Fatalf("newest checkpoint after the crash is step %v, want %d", headMeta["step"], crashAfter)
			}
			ok(t, dir, "verify", "demo.db")

			resumed := ok(t, dir, "demo")
			if crashAfter == demoSteps {
				if !strings.Contains(resumed.stdout, "already finished") {
					t.Fatalf("a run after the last step should say the thread is finished:\n%s", resumed)
				}
			} else {
				m := resumedFrom.FindStringSubmatch(resumed.stdout)
				if m == nil || m[1] != head["id"] || m[2] != fmt.Sprint(crashAfter) {
					t.Fatalf("want resume from checkpoint %v (step %d):\n%s", head["id"], crashAfter, resumed)
				}
				if !strings.Contains(resumed.stdout, "result already stored") || !strings.Contains(resumed.stdout, "skipped, not run again") {
					t.Fatalf("resumed run did not skip the task whose write was stored:\n%s", resumed)
				}
				if strings.Contains(resumed.stdout, fmt.Sprintf("step %d ", crashAfter)) {
					t.Fatalf("resumed run ran step %d again:\n%s", crashAfter, resumed)
				}
			}
			// No task ran twice: in step 3, each parallel task either ran in
			// the resumed run or was skipped there because the crashed run
			// had stored its result (under load both may have been stored
			// before the kill).
			if crashAfter == 2 {
				for _, task := range []string{"research:bbolt ", "research:sqlite"} {
					ranBefore := strings.Contains(crashed.stdout, "task "+task+"  done")
					ranAgain := strings.Contains(resumed.stdout, "task "+task+"  done")
					skipped := strings.Contains(resumed.stdout, "task "+task+"  result already stored")
					if ranAgain == skipped || ranBefore && !skipped {
						t.Fatalf("task %s: ran before the crash %v, ran again %v, skipped %v:\n%s\n%s", task, ranBefore, ranAgain, skipped, crashed, resumed)
					}
				}
			}
			if got := viewOf(t, dir, "demo.db"); !reflect.DeepEqual(got, want) {
				t.Fatalf("final view after crash and resume differs from an uninterrupted run:\n got %+v\nwant %+v", got, want)
			}
			ok(t, dir, "verify", "demo.db")
		})
	}
}
