package einockpt_test

import (
	"context"
	"errors"
	"testing"

	einockpt "github.com/ckpt-go/ckpt/integrations/eino"
	"github.com/cloudwego/eino/adk"
	"github.com/cloudwego/eino/components/model"
	"github.com/cloudwego/eino/components/tool"
	"github.com/cloudwego/eino/compose"
	"github.com/cloudwego/eino/schema"
)

// scriptedModel is a deterministic stand-in for the LLM (the one piece of
// an agent that needs a network): asked anything, it calls the payment
// tool; shown the tool's result, it answers with it. It decides from the
// conversation alone, so a fresh instance after a restart behaves the same.
type scriptedModel struct{}

func (scriptedModel) Generate(_ context.Context, in []*schema.Message, _ ...model.Option) (*schema.Message, error) {
	if len(in) == 0 {
		return nil, errors.New("scriptedModel: empty conversation")
	}
	last := in[len(in)-1]
	if last.Role == schema.Tool {
		return schema.AssistantMessage("done: "+last.Content, nil), nil
	}
	return schema.AssistantMessage("", []schema.ToolCall{{
		ID:       "call-1",
		Type:     "function",
		Function: schema.FunctionCall{Name: "pay", Arguments: `{"amount":"100 EUR"}`},
	}}), nil
}

func (m scriptedModel) Stream(ctx context.Context, in []*schema.Message, opts ...model.Option) (*schema.StreamReader[*schema.Message], error) {
	msg, err := m.Generate(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return schema.StreamReaderFromArray([]*schema.Message{msg}), nil
}

func (m scriptedModel) WithTools([]*schema.ToolInfo) (model.ToolCallingChatModel, error) {
	return m, nil
}

// payTool interrupts until it is resumed with the approver's name.
type payTool struct{}

func (payTool) Info(context.Context) (*schema.ToolInfo, error) {
	return &schema.ToolInfo{Name: "pay", Desc: "pays an amount after a human approves it"}, nil
}

func (payTool) InvokableRun(ctx context.Context, args string, _ ...tool.Option) (string, error) {
	wasInterrupted, _, saved := tool.GetInterruptState[string](ctx)
	if !wasInterrupted {
		return "", tool.StatefulInterrupt(ctx, "approve "+args+"?", args)
	}
	isTarget, hasData, approver := tool.GetResumeContext[string](ctx)
	if !isTarget || !hasData {
		return "", tool.StatefulInterrupt(ctx, "still waiting to approve "+saved, saved)
	}
	return "paid " + saved + " approved by " + approver, nil
}

func newPaymentRunner(t *testing.T, cs adk.CheckPointStore) *adk.Runner {
	t.Helper()
	agent, err := adk.NewChatModelAgent(ctx, &adk.ChatModelAgentConfig{
		Name:        "payer",
		Description: "pays invoices once approved",
		Model:       scriptedModel{},
		ToolsConfig: adk.ToolsConfig{ToolsNodeConfig: compose.ToolsNodeConfig{Tools: []tool.BaseTool{payTool{}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return adk.NewRunner(ctx, adk.RunnerConfig{Agent: agent, CheckPointStore: cs})
}

// drain reads every event; it returns the interrupt (nil if none), the
// last assistant message and fails the test on an error event.
func drain(t *testing.T, it *adk.AsyncIterator[*adk.AgentEvent]) (*adk.InterruptInfo, string) {
	t.Helper()
	var interrupt *adk.InterruptInfo
	var answer string
	for {
		ev, ok := it.Next()
		if !ok {
			return interrupt, answer
		}
		if ev.Err != nil {
			t.Fatalf("event error: %v", ev.Err)
		}
		if ev.Action != nil && ev.Action.Interrupted != nil {
			interrupt = ev.Action.Interrupted
		}
		if ev.Output != nil && ev.Output.MessageOutput != nil {
			msg, err := ev.Output.MessageOutput.GetMessage()
			if err != nil {
				t.Fatal(err)
			}
			if msg.Role == schema.Assistant && msg.Content != "" {
				answer = msg.Content
			}
		}
	}
}

func TestADKAgentInterruptedAndResumedAcrossRestart(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.DeleteOnComplete())
	runner := newPaymentRunner(t, cs)
	interrupt, answer := drain(t, cs.WatchAgent(ctx, "session-1",
		runner.Query(ctx, "pay the invoice", adk.WithCheckPointID("session-1"))))
	if interrupt == nil {
		t.Fatalf("agent finished with %q, want an interrupt", answer)
	}
	id := rootCauseID(t, interrupt.InterruptContexts)
	if h := history(t, f.store, cs, "session-1"); len(h) != 1 {
		t.Fatalf("history has %d checkpoints after one interrupt, want 1", len(h))
	}

	// Restart: new store handle, new agent and runner.
	cs = einockpt.New(f.restart(), einockpt.DeleteOnComplete())
	runner = newPaymentRunner(t, cs)
	events, err := runner.ResumeWithParams(ctx, "session-1", &adk.ResumeParams{Targets: map[string]any{id: "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	interrupt, answer = drain(t, cs.WatchAgent(ctx, "session-1", events))
	if interrupt != nil {
		t.Fatalf("resumed agent interrupted again: %+v", interrupt)
	}
	if want := `done: paid {"amount":"100 EUR"} approved by carol`; answer != want {
		t.Fatalf("answer %q, want %q", answer, want)
	}
	if _, ok, err := cs.Get(ctx, "session-1"); err != nil || ok {
		t.Fatalf("after the completed run Get = ok %v, err %v; want the thread deleted", ok, err)
	}

	// The id is free again: a new query starts a new run with a new history.
	interrupt, _ = drain(t, cs.WatchAgent(ctx, "session-1",
		runner.Query(ctx, "pay the next invoice", adk.WithCheckPointID("session-1"))))
	if interrupt == nil {
		t.Fatal("new run on the reused id finished, want an interrupt")
	}
	h := history(t, f.store, cs, "session-1")
	if len(h) != 1 {
		t.Fatalf("reused id history has %d checkpoints, want 1", len(h))
	}
	if !isInt(h[0].Metadata[einockpt.MetaStep], 0) {
		t.Fatalf("reused id starts at step %v, want 0", h[0].Metadata[einockpt.MetaStep])
	}
}

func TestADKResumeWithoutTargetInterruptsAgainAndKeepsHistory(t *testing.T) {
	f := newStoreFile(t)
	cs := einockpt.New(f.store, einockpt.DeleteOnComplete())
	runner := newPaymentRunner(t, cs)
	interrupt, _ := drain(t, cs.WatchAgent(ctx, "s", runner.Query(ctx, "pay", adk.WithCheckPointID("s"))))
	if interrupt == nil {
		t.Fatal("want an interrupt")
	}
	events, err := runner.Resume(ctx, "s") // targets nobody: the tool re-interrupts
	if err != nil {
		t.Fatal(err)
	}
	interrupt, _ = drain(t, cs.WatchAgent(ctx, "s", events))
	if interrupt == nil {
		t.Fatal("resume without a target finished, want a new interrupt")
	}
	if h := history(t, f.store, cs, "s"); len(h) != 2 {
		t.Fatalf("history has %d checkpoints after two interrupts, want 2 (not deleted)", len(h))
	}
}
