package einockpt

// Run helpers: eino's CheckPointStore interface has no "run finished" call,
// so the store cannot see on its own that a resumed run completed. These
// wrappers run eino with a checkpoint id and call Complete when the run
// ends without an error or a new interrupt.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudwego/eino/adk"
	"github.com/cloudwego/eino/compose"
	"github.com/cloudwego/eino/schema"
)

// Invoke runs r.Invoke with compose.WithCheckPointID(checkPointID) added to
// opts (r must be compiled with compose.WithCheckPointStore(s)). When the
// run returns without error it calls Complete; an interrupt or a failure
// keeps the checkpoint, so the run can be resumed or retried. If Complete
// fails, Invoke returns the run's output together with that error.
// Complete applies to checkPointID, the id the run read: do not combine
// DeleteOnComplete with compose.WithWriteToCheckPointID (a fork), or the
// source of the fork is deleted.
func Invoke[I, O any](ctx context.Context, s *CheckPointStore, r compose.Runnable[I, O], checkPointID string, input I, opts ...compose.Option) (O, error) {
	opts = append(opts[:len(opts):len(opts)], compose.WithCheckPointID(checkPointID))
	out, err := r.Invoke(ctx, input, opts...)
	if err != nil {
		return out, err
	}
	if err := s.Complete(ctx, checkPointID); err != nil {
		return out, fmt.Errorf("einockpt: run %q finished but completing it failed: %w", checkPointID, err)
	}
	return out, nil
}

// Stream runs r.Stream like Invoke runs r.Invoke. The run is complete when
// its output stream ends (io.EOF): Complete is called then, before the
// reader sees io.EOF; a failing Complete is the stream's last error.
// Close the returned reader if you stop reading early (the run then counts
// as not complete).
func Stream[I, O any](ctx context.Context, s *CheckPointStore, r compose.Runnable[I, O], checkPointID string, input I, opts ...compose.Option) (*schema.StreamReader[O], error) {
	opts = append(opts[:len(opts):len(opts)], compose.WithCheckPointID(checkPointID))
	src, err := r.Stream(ctx, input, opts...)
	if err != nil {
		return nil, err
	}
	out, w := schema.Pipe[O](0)
	go func() {
		defer w.Close()
		defer src.Close()
		var zero O
		for {
			v, err := src.Recv()
			if errors.Is(err, io.EOF) {
				if err := s.Complete(ctx, checkPointID); err != nil {
					w.Send(zero, fmt.Errorf("einockpt: run %q finished but completing it failed: %w", checkPointID, err))
				}
				return
			}
			if w.Send(v, err) || err != nil {
				return // reader closed, or the run failed or interrupted
			}
		}
	}()
	return out, nil
}

// WatchAgent forwards the events of an adk.Runner run (Run, Query, Resume
// or ResumeWithParams, called with adk.WithCheckPointID(checkPointID) or
// resuming checkPointID) and calls Complete once they end with neither an
// interrupt nor an error event. A failing Complete is sent as a last event
// with Err set. Read the returned iterator to its end, as you would the
// runner's.
func (s *CheckPointStore) WatchAgent(ctx context.Context, checkPointID string, events *adk.AsyncIterator[*adk.AgentEvent]) *adk.AsyncIterator[*adk.AgentEvent] {
	out, gen := adk.NewAsyncIteratorPair[*adk.AgentEvent]()
	go func() {
		defer gen.Close()
		complete := true
		for {
			ev, ok := events.Next()
			if !ok {
				break
			}
			if ev.Err != nil || (ev.Action != nil && ev.Action.Interrupted != nil) {
				complete = false
			}
			gen.Send(ev)
		}
		if !complete {
			return
		}
		if err := s.Complete(ctx, checkPointID); err != nil {
			gen.Send(&adk.AgentEvent{Err: fmt.Errorf("einockpt: run %q finished but completing it failed: %w", checkPointID, err)})
		}
	}()
	return out
}
