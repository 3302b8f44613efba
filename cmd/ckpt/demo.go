package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

func newDemoCmd(a *app) *cobra.Command {
	d := &demoRun{a: a}
	var fresh bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a small agent graph; crash it, run it again, see it resume",
		Long: fmt.Sprintf(`demo runs a small research-assistant graph (scripted replies, no network)
on a store file. It stores a checkpoint after every step (%d in all) with
metadata node, route, reason, step, source and run_id; at step 3 two tasks
run in parallel and each stores its result as a pending write first.

--crash-after N finishes step N, starts step N+1 and kills the process
(SIGKILL, no cleanup, like a dying worker) as soon as the first task of
that step has stored its result. Run demo again on the same file: it
resumes from the newest checkpoint, skips the tasks whose results are
stored, and finishes with the same state as a run that never crashed.`, demoSteps),
		Args: argsBetween(0, 0),
		RunE: func(c *cobra.Command, _ []string) (err error) {
			if d.crashAfter < 0 || d.crashAfter > demoSteps {
				return usageError{fmt.Sprintf("--crash-after must be between 1 and %d (the demo has %d steps)", demoSteps, demoSteps)}
			}
			if err := checkThreadArg(d.thread); err != nil {
				return usageError{fmt.Sprintf("--thread %q: %v", d.thread, err)}
			}
			// A finished thread is found on the read-only open that checks
			// the file: demo then says so and writes nothing, and the
			// file stays byte-identical (a read-write open alone changes
			// it).
			s, err := a.openWriteLook(d.db, func(ro *ckpt.Store) error {
				if fresh {
					return nil
				}
				cur, err := ro.GetTuple(c.Context(), ckpt.Config{ThreadID: d.thread})
				if err != nil || metaString(cur.Metadata, "route") != routeEnd {
					return nil // the read-write open finds it again, and says why
				}
				d.s = ro
				d.finished(c.Context(), cur)
				return errNoWrite
			}, nil)
			if errors.Is(err, errNoWrite) {
				return nil
			}
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			d.s = s
			if fresh {
				if err := s.DeleteThread(c.Context(), d.thread); err != nil {
					return err
				}
			}
			// Every step is stored whole or not at all: a stopped demo
			// resumes where it stopped, as after a crash.
			return stopped(c.Context(), d.run(c.Context()), "the demo stopped after its last stored step; run it again to resume")
		},
	}
	c.Flags().StringVar(&d.db, "db", "demo.db", "store file (created if missing)")
	// A name in the printed form too (nameArg), as every command takes.
	d.thread = "demo"
	c.Flags().Var((*nameValue)(&d.thread), "thread", "thread id")
	c.Flags().Var(countFlag{&d.crashAfter, fmt.Sprintf("1 to %d", demoSteps)}, "crash-after", fmt.Sprintf("die abruptly after step N (1-%d), in the middle of step N+1", demoSteps))
	c.Flags().BoolVar(&fresh, "fresh", false, "delete the thread first and start again")
	return c
}

// demoRun runs the demo graph on one thread.
type demoRun struct {
	a          *app
	s          *ckpt.Store
	db         string
	thread     string
	crashAfter int
	runID      string

	mu sync.Mutex // serialises output and the crash decision of parallel tasks
}

func (d *demoRun) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.a.out, format, args...)
}

func (d *demoRun) run(ctx context.Context) error {
	var b [3]byte
	_, _ = rand.Read(b[:])
	d.runID = "run-" + hex.EncodeToString(b[:])
	cfg := ckpt.Config{ThreadID: d.thread}
	cur, err := d.s.GetTuple(ctx, cfg)
	switch {
	case errors.Is(err, ckpt.ErrNotFound):
		d.printf("demo: new thread %q in %s (%s)\n", d.thread, d.db, d.runID)
		if cur, err = d.putInput(ctx); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		step, route := metaStep(cur.Metadata), metaString(cur.Metadata, "route")
		if route == routeEnd {
			d.finished(ctx, cur)
			return nil
		}
		d.printf("demo: resuming thread %q in %s from checkpoint %s (step %d, node %s, written by %s) (%s)\n",
			d.thread, d.db, cur.Config.CheckpointID, step, metaString(cur.Metadata, "node"), metaString(cur.Metadata, "run_id"), d.runID)
		if d.crashAfter > 0 && d.crashAfter < step {
			d.printf("demo: step %d is already done, --crash-after %d will not fire\n", d.crashAfter, d.crashAfter)
		}
	}
	graph := demoGraph()
	for {
		step, next := metaStep(cur.Metadata), metaString(cur.Metadata, "route")
		if next == routeEnd {
			break
		}
		n, ok := graph[next]
		if !ok {
			return fmt.Errorf("checkpoint %s routes to %q, which is not a node of the demo graph (was the thread written by something else? try --fresh)", cur.Config.CheckpointID, next)
		}
		if cur, err = d.runStep(ctx, cur, n, step+1); err != nil {
			return err
		}
	}
	var st demoState
	if st, err = loadState(cur); err != nil {
		return err
	}
	d.printf("demo: finished thread %q: %d steps, answer:\n  %s\n", d.thread, metaStep(cur.Metadata), st.Messages[len(st.Messages)-1].Content)
	d.hints(ctx)
	return nil
}

// finished says that the thread, at cur, is already finished.
func (d *demoRun) finished(ctx context.Context, cur *ckpt.Tuple) {
	d.printf("demo: thread %q in %s is already finished (step %d, checkpoint %s).\n", d.thread, d.db, metaStep(cur.Metadata), cur.Config.CheckpointID)
	d.printf("Start it again with --fresh, or run another thread with --thread NAME.\n")
	d.hints(ctx)
}

// putInput stores step 1: the user's question.
func (d *demoRun) putInput(ctx context.Context) (*ckpt.Tuple, error) {
	st := inputState()
	ver := version(1)
	newVersions := map[string]string{chQuestion: ver, chMessages: ver, chFindings: ver}
	meta := ckpt.Metadata{"source": "input", "step": 1, "node": "__input__", "route": firstNode,
		"reason": "new question from the user", "run_id": d.runID}
	cfg, err := d.s.Put(ctx, ckpt.Config{ThreadID: d.thread},
		ckpt.Checkpoint{V: 1, ChannelValues: st.channels(), ChannelVersions: maps.Clone(newVersions)}, meta, newVersions)
	if err != nil {
		return nil, err
	}
	d.printStep(1, "input", meta, cfg.CheckpointID)
	d.maybeCrashAfterCheckpoint(1)
	return d.s.GetTuple(ctx, cfg)
}

// version names a channel version written at step n; fixed width so that
// versions sort as strings.
func version(n int) string { return fmt.Sprintf("%04d", n) }

// runStep runs node n from checkpoint cur as step number step: its tasks
// in parallel (skipping those whose writes cur already holds), then the
// step's checkpoint built from all the tasks' stored writes.
func (d *demoRun) runStep(ctx context.Context, cur *ckpt.Tuple, n node, step int) (*ckpt.Tuple, error) {
	state, err := loadState(cur)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, w := range cur.PendingWrites {
		done[w.TaskID] = true
	}
	var wg sync.WaitGroup
	errs := make([]error, len(n.tasks))
	stored := false
	for i, t := range n.tasks {
		if done[t.name] {
			d.printf("  task %-16s result already stored (pending write of checkpoint %s): skipped, not run again\n", t.name, cur.Config.CheckpointID)
			continue
		}
		wg.Go(func() {
			time.Sleep(t.latency) // the scripted "model call"
			writes := t.run(state)
			if err := d.s.PutWrites(ctx, cur.Config, writes, t.name, n.name); err != nil {
				errs[i] = fmt.Errorf("task %s: %w", t.name, err)
				return
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			fmt.Fprintf(d.a.out, "  task %-16s done, result stored as a pending write\n", t.name)
			stored = true
			if d.crashAfter == step-1 {
				d.crash(fmt.Sprintf("in step %d after task %s stored its result", step, t.name))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if !stored && d.crashAfter == step-1 {
		d.mu.Lock()
		d.crash(fmt.Sprintf("in step %d before its checkpoint", step))
	}
	// Build the step's state from the writes as stored, in their stored
	// order, so a resumed step computes exactly what an uninterrupted one
	// would.
	withWrites, err := d.s.GetTuple(ctx, cur.Config)
	if err != nil {
		return nil, err
	}
	versions := maps.Clone(cur.Checkpoint.ChannelVersions)
	newVersions := map[string]string{}
	var tasks []string
	for _, w := range withWrites.PendingWrites {
		if err := state.applyWrite(w); err != nil {
			return nil, err
		}
		versions[w.Channel] = version(step)
		newVersions[w.Channel] = version(step)
		if len(tasks) == 0 || tasks[len(tasks)-1] != w.TaskID {
			tasks = append(tasks, w.TaskID)
		}
	}
	seen := maps.Clone(cur.Checkpoint.VersionsSeen)
	if seen == nil {
		seen = map[string]map[string]string{}
	}
	seen[n.name] = maps.Clone(cur.Checkpoint.ChannelVersions)
	route, reason := n.route(state)
	meta := ckpt.Metadata{"source": "loop", "step": step, "node": n.name, "route": route,
		"reason": reason, "run_id": d.runID, "tasks": tasks}
	cfg, err := d.s.Put(ctx, cur.Config, ckpt.Checkpoint{V: 1, ChannelValues: state.channels(),
		ChannelVersions: versions, VersionsSeen: seen}, meta, newVersions)
	if err != nil {
		return nil, err
	}
	d.printStep(step, n.name, meta, cfg.CheckpointID)
	d.maybeCrashAfterCheckpoint(step)
	return d.s.GetTuple(ctx, cfg)
}

func (d *demoRun) printStep(step int, node string, meta ckpt.Metadata, id string) {
	d.printf("step %d  %-10s -> %-10s checkpoint %s  %s\n", step, node, meta["route"], id, meta["reason"])
}

// maybeCrashAfterCheckpoint dies after the last step's checkpoint when
// asked to crash after it (there is no next step to die in).
func (d *demoRun) maybeCrashAfterCheckpoint(step int) {
	if d.crashAfter == step && step == demoSteps {
		d.mu.Lock()
		d.crash(fmt.Sprintf("after step %d", step))
	}
}

// crash kills the process the way a worker dies: SIGKILL, no deferred
// calls, no Close. Every acknowledged write is already fsync'd. The caller
// holds d.mu.
func (d *demoRun) crash(where string) {
	fmt.Fprintf(d.a.out, "demo: --crash-after %d: killing the process %s (SIGKILL, no cleanup)\n", d.crashAfter, where)
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	time.Sleep(time.Hour) // the signal ends the process before this returns
}

// hints prints what to try next, with real checkpoint ids.
func (d *demoRun) hints(ctx context.Context) {
	ids := map[int]string{}
	for t, err := range d.s.List(ctx, ckpt.ListOptions{ThreadID: d.thread, Namespace: ckpt.NS("")}) {
		if err != nil {
			return
		}
		ids[metaStep(t.Metadata)] = t.Config.CheckpointID
	}
	self := selfName()
	db := d.db
	if strings.ContainsAny(db, " '\"") {
		db = fmt.Sprintf("%q", db)
	}
	demoArgs := ""
	if d.db != "demo.db" {
		demoArgs += " --db " + db
	}
	// The thread as printed (shown: Go-quoted if it is not plain text),
	// in single quotes if the shell would change it.
	thread := shown(d.thread)
	if strings.ContainsAny(thread, " '\"\\$`!*?[]{}()<>|&;#~\t") {
		thread = "'" + strings.ReplaceAll(thread, "'", `'\''`) + "'"
	}
	if d.thread != "demo" {
		demoArgs += " --thread " + thread
	}
	d.printf("next:\n")
	d.printf("  %s log %s %s\n      the history, newest first\n", self, db, thread)
	d.printf("  %s show %s %s\n      the final state, metadata and pending writes as JSON\n", self, db, thread)
	if ids[2] != "" && ids[3] != "" {
		d.printf("  %s diff %s %s %s %s\n      what the parallel step added\n", self, db, thread, ids[2], ids[3])
	}
	d.printf("  %s ui %s\n      the same in a web browser: open the address it prints, then thread %s (its history tree, checkpoints, diffs)\n", self, db, shown(d.thread))
	d.printf("  %s demo%s --fresh --crash-after 2   and then   %s demo%s\n      crash in the parallel step, then resume\n", self, demoArgs, self, demoArgs)
}

// selfName is how the user called this program: "go run ./cmd/ckpt" when
// it runs from go run's build cache, else "ckpt".
func selfName() string {
	exe, err := os.Executable()
	if err == nil && strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return "go run ./cmd/ckpt"
	}
	return "ckpt"
}

// metaStep reads the step number of a checkpoint's metadata.
func metaStep(m ckpt.Metadata) int {
	switch v := m["step"].(type) {
	case int64:
		return int(v)
	case uint64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

func metaString(m ckpt.Metadata, key string) string {
	s, _ := m[key].(string)
	return s
}
