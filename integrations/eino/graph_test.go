package einockpt_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	einockpt "github.com/ckpt-go/ckpt/integrations/eino"
	"github.com/cloudwego/eino/compose"
	"github.com/cloudwego/eino/schema"
)

// reviewState is the graph's local state; a reviewer edits it while the
// graph is interrupted.
type reviewState struct {
	Note string
}

func init() {
	schema.RegisterName[*reviewState]("einockpt_test_review_state")
}

// newReviewGraph compiles draft -> publish, interrupted before publish.
// publish appends the state's note, so a state modifier on resume shows in
// the output.
func newReviewGraph(t *testing.T, cs compose.CheckPointStore) compose.Runnable[string, string] {
	t.Helper()
	g := compose.NewGraph[string, string](compose.WithGenLocalState(func(context.Context) *reviewState {
		return &reviewState{}
	}))
	must(t, g.AddLambdaNode("draft", compose.InvokableLambda(func(_ context.Context, in string) (string, error) {
		return "draft(" + in + ")", nil
	})))
	must(t, g.AddLambdaNode("publish", compose.InvokableLambda(func(_ context.Context, in string) (string, error) {
		return "publish(" + in + ")", nil
	}), compose.WithStatePreHandler(func(_ context.Context, in string, st *reviewState) (string, error) {
		return in + " note=" + st.Note, nil
	})))
	must(t, g.AddEdge(compose.START, "draft"))
	must(t, g.AddEdge("draft", "publish"))
	must(t, g.AddEdge("publish", compose.END))
	r, err := g.Compile(ctx, compose.WithCheckPointStore(cs),
		compose.WithInterruptBeforeNodes([]string{"publish"}), compose.WithGraphName("review"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// approve sets the note of the graph's reviewState.
func approve(note string) compose.StateModifier {
	return func(_ context.Context, _ compose.NodePath, state any) error {
		st, ok := state.(*reviewState)
		if !ok {
			return errors.New("state is not *reviewState")
		}
		st.Note = note
		return nil
	}
}

func TestInterruptBeforeNodeResumesAfterRestartWithStateModifier(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store)
	_, err := newReviewGraph(t, cs).Invoke(ctx, "report", compose.WithCheckPointID("review-1"))
	info := mustInterrupt(t, err)
	if !reflect.DeepEqual(info.BeforeNodes, []string{"publish"}) {
		t.Fatalf("interrupted before %v, want [publish]", info.BeforeNodes)
	}

	// The process goes away; a new one opens the same file, builds the
	// graph again and resumes with the reviewer's edit.
	store := f.restart()
	cs = einockpt.New(store)
	out, err := newReviewGraph(t, cs).Invoke(ctx, "ignored on resume",
		compose.WithCheckPointID("review-1"), compose.WithStateModifier(approve("ok by ann")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "publish(draft(report) note=ok by ann)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

// TestReusedIDReplaysWithoutDeleteOnComplete documents eino's behaviour
// that DeleteOnComplete fixes: after a completed run, the same id resumes
// the old interrupt and ignores the new input.
func TestReusedIDReplaysWithoutDeleteOnComplete(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store)
	r := newReviewGraph(t, cs)
	_, err := einockpt.Invoke(ctx, cs, r, "doc", "first")
	mustInterrupt(t, err)
	if _, err := einockpt.Invoke(ctx, cs, r, "doc", "", compose.WithStateModifier(approve("a"))); err != nil {
		t.Fatal(err)
	}
	out, err := einockpt.Invoke(ctx, cs, r, "doc", "second", compose.WithStateModifier(approve("b")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "draft(first)") {
		t.Fatalf("output %q: want the stale replay of the first input", out)
	}
}

func TestDeleteOnCompleteMakesReusedIDStartFresh(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.DeleteOnComplete())
	r := newReviewGraph(t, cs)

	_, err := einockpt.Invoke(ctx, cs, r, "doc", "first")
	mustInterrupt(t, err)
	out, err := einockpt.Invoke(ctx, cs, r, "doc", "", compose.WithStateModifier(approve("a")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "publish(draft(first) note=a)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	if _, ok, err := cs.Get(ctx, "doc"); err != nil || ok {
		t.Fatalf("after a completed run Get = ok %v, err %v; want the thread deleted", ok, err)
	}
	if h := history(t, f.store, cs, "doc"); len(h) != 0 {
		t.Fatalf("thread still has %d checkpoints", len(h))
	}

	// The same id now starts a new run from the new input.
	_, err = einockpt.Invoke(ctx, cs, r, "doc", "second")
	mustInterrupt(t, err)
	out, err = einockpt.Invoke(ctx, cs, r, "doc", "", compose.WithStateModifier(approve("b")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "publish(draft(second) note=b)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

func TestDeleteOnCompleteKeepsCheckpointOfFailedRun(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.DeleteOnComplete())
	r := newReviewGraph(t, cs)
	_, err := einockpt.Invoke(ctx, cs, r, "doc", "first")
	mustInterrupt(t, err)

	boom := errors.New("reviewer unavailable")
	_, err = einockpt.Invoke(ctx, cs, r, "doc", "", compose.WithStateModifier(
		func(context.Context, compose.NodePath, any) error { return boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("resume error %v, want %v", err, boom)
	}
	if _, ok, err := cs.Get(ctx, "doc"); err != nil || !ok {
		t.Fatalf("after a failed resume Get = ok %v, err %v; want the checkpoint kept", ok, err)
	}
	out, err := einockpt.Invoke(ctx, cs, r, "doc", "", compose.WithStateModifier(approve("retry")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "publish(draft(first) note=retry)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

func TestStreamCompletesWhenOutputEnds(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.DeleteOnComplete())
	r := newReviewGraph(t, cs)
	_, err := einockpt.Stream(ctx, cs, r, "doc", "first")
	mustInterrupt(t, err)

	sr, err := einockpt.Stream(ctx, cs, r, "doc", "", compose.WithStateModifier(approve("s")))
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for {
		chunk, err := sr.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out += chunk
	}
	if want := "publish(draft(first) note=s)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	if _, ok, err := cs.Get(ctx, "doc"); err != nil || ok {
		t.Fatalf("after the stream ended Get = ok %v, err %v; want the thread deleted", ok, err)
	}
}

// newApprovalGraph compiles a graph whose "pay" node interrupts itself
// until it is resumed with the approver's name.
func newApprovalGraph(t *testing.T, cs compose.CheckPointStore) compose.Runnable[string, string] {
	t.Helper()
	g := compose.NewGraph[string, string]()
	must(t, g.AddLambdaNode("pay", compose.InvokableLambda(func(ctx context.Context, in string) (string, error) {
		wasInterrupted, _, saved := compose.GetInterruptState[string](ctx)
		if !wasInterrupted {
			return "", compose.StatefulInterrupt(ctx, "approve payment of "+in+"?", in)
		}
		isTarget, hasData, approver := compose.GetResumeContext[string](ctx)
		if !isTarget || !hasData {
			return "", compose.StatefulInterrupt(ctx, "still waiting for approval of "+saved, saved)
		}
		return "paid " + saved + " (approved by " + approver + ")", nil
	})))
	must(t, g.AddEdge(compose.START, "pay"))
	must(t, g.AddEdge("pay", compose.END))
	r, err := g.Compile(ctx, compose.WithCheckPointStore(cs), compose.WithGraphName("approval"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInterruptInsideNodeResumesWithData(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store)
	_, err := newApprovalGraph(t, cs).Invoke(ctx, "100 EUR", compose.WithCheckPointID("pay-1"))
	info := mustInterrupt(t, err)
	id := rootCauseID(t, info.InterruptContexts)

	cs = einockpt.New(f.restart())
	r := newApprovalGraph(t, cs)
	// A resume that targets nobody leaves the node interrupted.
	_, err = r.Invoke(ctx, "", compose.WithCheckPointID("pay-1"))
	info = mustInterrupt(t, err)
	id = rootCauseID(t, info.InterruptContexts)

	out, err := r.Invoke(compose.ResumeWithData(ctx, id, "bob"), "", compose.WithCheckPointID("pay-1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "paid 100 EUR (approved by bob)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

// newStagesGraph compiles a -> b -> c -> d, interrupted before b, c and d.
func newStagesGraph(t *testing.T, cs compose.CheckPointStore) compose.Runnable[string, string] {
	t.Helper()
	g := compose.NewGraph[string, string]()
	nodes := []string{"a", "b", "c", "d"}
	prev := compose.START
	for _, n := range nodes {
		must(t, g.AddLambdaNode(n, compose.InvokableLambda(func(_ context.Context, in string) (string, error) {
			return in + n, nil
		})))
		must(t, g.AddEdge(prev, n))
		prev = n
	}
	must(t, g.AddEdge(prev, compose.END))
	r, err := g.Compile(ctx, compose.WithCheckPointStore(cs),
		compose.WithInterruptBeforeNodes([]string{"b", "c", "d"}), compose.WithGraphName("stages"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHistoryListsEveryInterrupt(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.WithMetadata(func(ctx context.Context, id string) ckpt.Metadata {
		return ckpt.Metadata{"user": "ann", einockpt.MetaSource: "overridden?"}
	}))
	r := newStagesGraph(t, cs)
	var before [][]string
	for range 3 {
		_, err := r.Invoke(ctx, ">", compose.WithCheckPointID("stages-1"))
		before = append(before, mustInterrupt(t, err).BeforeNodes)
	}
	if want := [][]string{{"b"}, {"c"}, {"d"}}; !reflect.DeepEqual(before, want) {
		t.Fatalf("interrupted before %v, want %v", before, want)
	}

	h := history(t, f.restart(), cs, "stages-1")
	if len(h) != 3 {
		t.Fatalf("history has %d checkpoints, want 3", len(h))
	}
	cs = einockpt.New(f.store)
	newest, ok, err := cs.Get(ctx, "stages-1")
	if err != nil || !ok {
		t.Fatalf("Get = ok %v, err %v", ok, err)
	}
	for i, snap := range h {
		var data []byte
		if err := snap.Decode(einockpt.Channel, &data); err != nil {
			t.Fatal(err)
		}
		m := snap.Metadata
		wantStep := int64(len(h) - 1 - i) // newest first
		if m[einockpt.MetaSource] != einockpt.SourceEino || !isInt(m[einockpt.MetaStep], wantStep) ||
			!isInt(m[einockpt.MetaSize], int64(len(data))) || m[einockpt.MetaCheckPointID] != "stages-1" || m["user"] != "ann" {
			t.Errorf("checkpoint %d metadata %v, want source eino, step %d, size %d, user ann", i, m, wantStep, len(data))
		}
		if i == 0 && string(data) != string(newest) {
			t.Errorf("Get returned %d bytes, not the newest checkpoint's %d", len(newest), len(data))
		}
		if i > 0 && snap.CheckpointID >= h[i-1].CheckpointID {
			t.Errorf("history not newest first: %s then %s", h[i-1].CheckpointID, snap.CheckpointID)
		}
	}

	// The history survives; the run finishes from the newest checkpoint.
	out, err := newStagesGraph(t, cs).Invoke(ctx, "", compose.WithCheckPointID("stages-1"))
	if err != nil {
		t.Fatal(err)
	}
	if out != ">abcd" {
		t.Fatalf("output %q, want >abcd", out)
	}
}

// isInt reports whether v, a number decoded from metadata (int64 or
// uint64), equals want.
func isInt(v any, want int64) bool {
	switch n := v.(type) {
	case int64:
		return n == want
	case uint64:
		return want >= 0 && n == uint64(want)
	}
	return false
}
