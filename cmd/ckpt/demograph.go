package main

// The demo's agent graph: a small research assistant with scripted replies
// (no network, no model), so every run computes the same state. It is run
// the way a graph runtime runs a graph on a checkpointer: each step's tasks
// start from the newest checkpoint, each task stores its result as pending
// writes as soon as it finishes, and when all tasks are done the step's
// checkpoint is stored. A worker that dies mid-step leaves the finished
// tasks' writes behind; the next worker skips those tasks.

import (
	"fmt"
	"time"

	"github.com/ckpt-go/ckpt"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Finding is what one research task found.
type Finding struct {
	Source string `json:"source"`
	Note   string `json:"note"`
}

// Review is the critic's verdict on a draft.
type Review struct {
	Verdict string `json:"verdict"`
	Comment string `json:"comment"`
}

// demoState is the graph's state; each field is one channel.
type demoState struct {
	Question  string    `json:"question"`
	Messages  []Message `json:"messages"`
	Plan      []string  `json:"plan"`
	Findings  []Finding `json:"findings"`
	Draft     string    `json:"draft"`
	Review    *Review   `json:"review"`
	Revisions int       `json:"revisions"`
}

// Channel names.
const (
	chQuestion  = "question"
	chMessages  = "messages"
	chPlan      = "plan"
	chFindings  = "findings"
	chDraft     = "draft"
	chReview    = "review"
	chRevisions = "revisions"
)

// channels returns the value of every channel.
func (s *demoState) channels() map[string]any {
	return map[string]any{
		chQuestion: s.Question, chMessages: s.Messages, chPlan: s.Plan, chFindings: s.Findings,
		chDraft: s.Draft, chReview: s.Review, chRevisions: s.Revisions,
	}
}

// target returns where a channel's value decodes to.
func (s *demoState) target(ch string) (any, error) {
	switch ch {
	case chQuestion:
		return &s.Question, nil
	case chMessages:
		return &s.Messages, nil
	case chPlan:
		return &s.Plan, nil
	case chFindings:
		return &s.Findings, nil
	case chDraft:
		return &s.Draft, nil
	case chReview:
		return &s.Review, nil
	case chRevisions:
		return &s.Revisions, nil
	}
	return nil, fmt.Errorf("the demo graph has no channel %q", ch)
}

// loadState decodes a checkpoint's channels.
func loadState(t *ckpt.Tuple) (demoState, error) {
	var s demoState
	for ch := range t.Checkpoint.ChannelValues {
		dst, err := s.target(ch)
		if err != nil {
			return s, err
		}
		if err := t.Decode(ch, dst); err != nil {
			return s, fmt.Errorf("checkpoint %s channel %q: %w", t.Config.CheckpointID, ch, err)
		}
	}
	return s, nil
}

// applyWrite applies one stored pending write: the list channels
// (messages, findings) append the written item, the others take the value.
func (s *demoState) applyWrite(w ckpt.PendingWrite) error {
	var err error
	switch w.Channel {
	case chMessages:
		var m Message
		if err = w.Value.Decode(&m); err == nil {
			s.Messages = append(s.Messages, m)
		}
	case chFindings:
		var f Finding
		if err = w.Value.Decode(&f); err == nil {
			s.Findings = append(s.Findings, f)
		}
	default:
		var dst any
		if dst, err = s.target(w.Channel); err == nil {
			err = w.Value.Decode(dst)
		}
	}
	if err != nil {
		return fmt.Errorf("pending write of task %q to channel %q: %w", w.TaskID, w.Channel, err)
	}
	return nil
}

// task is one unit of work of a step; tasks of one step run in parallel.
type task struct {
	name string
	// latency stands for the time a model or tool call would take.
	latency time.Duration
	run     func(s demoState) []ckpt.Write
}

// node is one step of the graph: its tasks and where the graph goes next.
type node struct {
	name  string
	tasks []task
	route func(s demoState) (next, reason string)
}

// Route names that are not nodes.
const (
	routeEnd = "__end__"
)

const demoQuestion = "Should our agent keep its checkpoints in bbolt or in SQLite?"

// inputState is the state of the first checkpoint: the user's question.
func inputState() demoState {
	return demoState{Question: demoQuestion, Messages: []Message{{Role: "user", Content: demoQuestion}}, Findings: []Finding{}}
}

// firstNode is where the graph starts after the input checkpoint.
const firstNode = "planner"

// demoSteps is the number of checkpoints an uninterrupted run stores (the
// input checkpoint and one per node run).
const demoSteps = 8

func write(ch string, v any) ckpt.Write { return ckpt.Write{Channel: ch, Value: v} }

// demoGraph returns the nodes by name. Every reply is scripted.
func demoGraph() map[string]node {
	return map[string]node{
		"planner": {name: "planner",
			tasks: []task{{name: "planner", latency: 10 * time.Millisecond, run: func(demoState) []ckpt.Write {
				return []ckpt.Write{write(chPlan, []string{"look up bbolt", "look up SQLite", "compare"})}
			}}},
			route: func(demoState) (string, string) {
				return "research", "the question compares two stores: look both up at once"
			},
		},
		"research": {name: "research",
			tasks: []task{
				{name: "research:bbolt", latency: 20 * time.Millisecond, run: func(demoState) []ckpt.Write {
					return []ckpt.Write{write(chFindings, Finding{Source: "bbolt", Note: "one file, one writer process, every commit fsync'd, readers never block"})}
				}},
				{name: "research:sqlite", latency: 150 * time.Millisecond, run: func(demoState) []ckpt.Write {
					return []ckpt.Write{write(chFindings, Finding{Source: "SQLite", Note: "one file, SQL queries, WAL mode lets readers run beside one writer"})}
				}},
			},
			route: func(demoState) (string, string) { return "writer", "both look-ups finished" },
		},
		"writer": {name: "writer",
			tasks: []task{{name: "writer", latency: 10 * time.Millisecond, run: func(s demoState) []ckpt.Write {
				if s.Review == nil {
					return []ckpt.Write{write(chDraft, "Both keep everything in one file. bbolt needs no SQL and never blocks readers; SQLite gives you queries.")}
				}
				return []ckpt.Write{
					write(chDraft, "Both keep everything in one file and survive a crash: a commit is fsync'd before it returns. bbolt needs no SQL and never blocks readers; SQLite gives you queries. For an embedded Go agent, bbolt."),
					write(chRevisions, s.Revisions+1),
				}
			}}},
			route: func(demoState) (string, string) { return "critic", "draft ready for review" },
		},
		"critic": {name: "critic",
			tasks: []task{{name: "critic", latency: 10 * time.Millisecond, run: func(s demoState) []ckpt.Write {
				if s.Revisions == 0 {
					return []ckpt.Write{write(chReview, &Review{Verdict: "revise", Comment: "say what survives a crash, and recommend one"})}
				}
				return []ckpt.Write{write(chReview, &Review{Verdict: "approve", Comment: "answers the question"})}
			}}},
			route: func(s demoState) (string, string) {
				if s.Review != nil && s.Review.Verdict == "approve" {
					return "responder", "the critic approved the draft"
				}
				return "writer", "the critic asked for a revision: " + s.Review.Comment
			},
		},
		"responder": {name: "responder",
			tasks: []task{{name: "responder", latency: 10 * time.Millisecond, run: func(s demoState) []ckpt.Write {
				return []ckpt.Write{write(chMessages, Message{Role: "assistant", Content: s.Draft})}
			}}},
			route: func(demoState) (string, string) { return routeEnd, "answer sent to the user" },
		},
	}
}
