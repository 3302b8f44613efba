package ckptotel

import (
	"context"
	"iter"

	"github.com/ckpt-go/ckpt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Saver wraps a ckpt.Saver and makes one span per call ("ckpt.Put",
// "ckpt.PutWrites", "ckpt.GetTuple", "ckpt.List", "ckpt.DeleteThread",
// "ckpt.CopyThread", "ckpt.Prune", "ckpt.DeleteForRuns"), a child of the
// span in the call's context. The span names the thread, namespace and
// checkpoint; a failed call's span has status Error, the error recorded
// and an attribute ckpt.error.kind (as Store.Metrics counts it). Write
// options in the context (ckpt.WithWriteOptions) pass through unchanged.
type Saver struct {
	next   ckpt.Saver
	tracer trace.Tracer
}

var _ ckpt.Saver = (*Saver)(nil)

// NewSaver returns next wrapped in spans from tp (ScopeName's tracer).
func NewSaver(next ckpt.Saver, tp trace.TracerProvider) *Saver {
	return &Saver{next: next, tracer: tp.Tracer(ScopeName)}
}

// Unwrap returns the wrapped Saver.
func (s *Saver) Unwrap() ckpt.Saver { return s.next }

func cfgAttrs(cfg ckpt.Config) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("ckpt.thread_id", cfg.ThreadID),
		attribute.String("ckpt.checkpoint_ns", cfg.CheckpointNS),
		attribute.String("ckpt.checkpoint_id", cfg.CheckpointID),
	}
}

func (s *Saver) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
}

// end ends span with err's outcome.
func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(attribute.String("ckpt.error.kind", ckpt.ErrorKindOf(err).String()))
	}
	span.End()
}

// Put traces next.Put; the span gains the new checkpoint's id.
func (s *Saver) Put(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string) (ckpt.Config, error) {
	ctx, span := s.start(ctx, "ckpt.Put", append(cfgAttrs(cfg), attribute.Int("ckpt.channels", len(newVersions)))...)
	out, err := s.next.Put(ctx, cfg, cp, meta, newVersions)
	if err == nil {
		span.SetAttributes(attribute.String("ckpt.new_checkpoint_id", out.CheckpointID))
	}
	end(span, err)
	return out, err
}

// PutWrites traces next.PutWrites.
func (s *Saver) PutWrites(ctx context.Context, cfg ckpt.Config, writes []ckpt.Write, taskID, taskPath string) error {
	ctx, span := s.start(ctx, "ckpt.PutWrites", append(cfgAttrs(cfg), attribute.String("ckpt.task_id", taskID), attribute.Int("ckpt.writes", len(writes)))...)
	err := s.next.PutWrites(ctx, cfg, writes, taskID, taskPath)
	end(span, err)
	return err
}

// GetTuple traces next.GetTuple.
func (s *Saver) GetTuple(ctx context.Context, cfg ckpt.Config) (*ckpt.Tuple, error) {
	ctx, span := s.start(ctx, "ckpt.GetTuple", cfgAttrs(cfg)...)
	t, err := s.next.GetTuple(ctx, cfg)
	end(span, err)
	return t, err
}

// List traces next.List: the span covers the iteration, from its start to
// the caller's last tuple, and counts the tuples yielded.
func (s *Saver) List(ctx context.Context, opts ckpt.ListOptions) iter.Seq2[*ckpt.Tuple, error] {
	return func(yield func(*ckpt.Tuple, error) bool) {
		attrs := []attribute.KeyValue{attribute.String("ckpt.thread_id", opts.ThreadID), attribute.Int("ckpt.limit", opts.Limit)}
		if opts.Namespace != nil {
			attrs = append(attrs, attribute.String("ckpt.checkpoint_ns", *opts.Namespace))
		}
		ctx, span := s.start(ctx, "ckpt.List", attrs...)
		n := 0
		var err error
		defer func() {
			span.SetAttributes(attribute.Int("ckpt.tuples", n))
			end(span, err)
		}()
		for t, e := range s.next.List(ctx, opts) {
			if e != nil {
				err = e
			} else {
				n++
			}
			if !yield(t, e) {
				return
			}
		}
	}
}

// DeleteThread traces next.DeleteThread.
func (s *Saver) DeleteThread(ctx context.Context, threadID string) error {
	ctx, span := s.start(ctx, "ckpt.DeleteThread", attribute.String("ckpt.thread_id", threadID))
	err := s.next.DeleteThread(ctx, threadID)
	end(span, err)
	return err
}

// CopyThread traces next.CopyThread.
func (s *Saver) CopyThread(ctx context.Context, srcThreadID, dstThreadID string, opts ckpt.CopyOptions) error {
	ctx, span := s.start(ctx, "ckpt.CopyThread", attribute.String("ckpt.thread_id", srcThreadID), attribute.String("ckpt.dst_thread_id", dstThreadID))
	err := s.next.CopyThread(ctx, srcThreadID, dstThreadID, opts)
	end(span, err)
	return err
}

// Prune traces next.Prune.
func (s *Saver) Prune(ctx context.Context, threadIDs []string, strategy ckpt.PruneStrategy) error {
	ctx, span := s.start(ctx, "ckpt.Prune", attribute.Int("ckpt.threads", len(threadIDs)), attribute.String("ckpt.strategy", strategy.String()))
	err := s.next.Prune(ctx, threadIDs, strategy)
	end(span, err)
	return err
}

// DeleteForRuns traces next.DeleteForRuns.
func (s *Saver) DeleteForRuns(ctx context.Context, runIDs []string) error {
	ctx, span := s.start(ctx, "ckpt.DeleteForRuns", attribute.Int("ckpt.runs", len(runIDs)))
	err := s.next.DeleteForRuns(ctx, runIDs)
	end(span, err)
	return err
}
