package ckptotel_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	ckptotel "github.com/ckpt-go/ckpt/integrations/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func openStore(t *testing.T) *ckpt.Store {
	t.Helper()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "o.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func put(ctx context.Context, sv ckpt.Saver, cfg ckpt.Config, version string, v any) (ckpt.Config, error) {
	return sv.Put(ctx, cfg, ckpt.Checkpoint{
		ChannelValues:   map[string]any{"a": v},
		ChannelVersions: map[string]string{"a": version},
	}, ckpt.Metadata{"step": 1}, map[string]string{"a": version})
}

// collected maps "name" or "name{key=value}" to the value of each int64
// data point (sums and gauges alike).
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	key := func(name string, set attribute.Set) string {
		if set.Len() == 0 {
			return name
		}
		kv := set.ToSlice()[0]
		return name + "{" + string(kv.Key) + "=" + kv.Value.Emit() + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			}
		}
	}
	return out
}

// The instruments report the operations made through the traced Saver,
// and each call has a span, failed ones with status Error.
func TestMetricsAndSpansMatchOperations(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	reg, err := ckptotel.RegisterMetrics(mp.Meter(ckptotel.ScopeName), s)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	sv := ckptotel.NewSaver(s, tp)

	c1, err := put(ctx, sv, ckpt.Config{ThreadID: "t"}, "1", "one")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := put(ctx, sv, c1, "2", "two")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), sv, c1, "3", 3); !errors.Is(err, ckpt.ErrConflict) {
		t.Fatalf("put on an old head: %v, want ErrConflict", err)
	}
	if err := sv.PutWrites(ctx, c2, []ckpt.Write{{Channel: "a", Value: 1}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.GetTuple(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.GetTuple(ctx, ckpt.Config{ThreadID: "nobody"}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("GetTuple of a missing thread: %v", err)
	}
	n := 0
	for _, err := range sv.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("List yielded %d, want 2", n)
	}
	if err := sv.DeleteThread(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}

	got := collect(t, reader)
	want := map[string]int64{
		"ckpt.operations{op=put}":        3,
		"ckpt.operations{op=put_writes}": 1,
		"ckpt.operations{op=get}":        2,
		"ckpt.operations{op=list}":       1,
		"ckpt.operations{op=delete}":     1,
		"ckpt.operations{op=gc}":         0,
		"ckpt.errors{kind=conflict}":     1,
		"ckpt.errors{kind=not_found}":    1,
		"ckpt.errors{kind=failed}":       0,
		"ckpt.groups":                    4, // two puts, the writes, the delete
		"ckpt.group.writes":              4,
		"ckpt.log.pending_bytes":         0, // ApplyLog applied everything
		"ckpt.applier.lag.groups":        0,
		"ckpt.snapshots.open":            0,
		"ckpt.failed":                    0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %d (reported: %v), want %d", k, g, ok, v)
		}
	}
	m := s.Metrics()
	if got["ckpt.log.bytes_written"] != m.LogBytes || m.LogBytes <= 0 {
		t.Errorf("ckpt.log.bytes_written %d, Store.Metrics %d", got["ckpt.log.bytes_written"], m.LogBytes)
	}
	if got["ckpt.log.fsyncs"] != m.Fsyncs || got["ckpt.log.fsync.buckets{le=+Inf}"] != m.Fsyncs || m.Fsyncs < 4 {
		t.Errorf("fsyncs %d, +Inf bucket %d, Store.Metrics %d (want at least one per group)", got["ckpt.log.fsyncs"], got["ckpt.log.fsync.buckets{le=+Inf}"], m.Fsyncs)
	}
	if got["ckpt.file.bytes_written"] <= 0 || got["ckpt.file.commits"] <= 0 {
		t.Errorf("file bytes %d commits %d after ApplyLog", got["ckpt.file.bytes_written"], got["ckpt.file.commits"])
	}

	ended := spans.Ended()
	var names []string
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, sp := range ended {
		names = append(names, sp.Name())
		byName[sp.Name()] = append(byName[sp.Name()], sp)
	}
	for name, n := range map[string]int{"ckpt.Put": 3, "ckpt.PutWrites": 1, "ckpt.GetTuple": 2, "ckpt.List": 1, "ckpt.DeleteThread": 1} {
		if len(byName[name]) != n {
			t.Errorf("%d spans %s, want %d (spans: %v)", len(byName[name]), name, n, names)
		}
	}
	errSpans := 0
	for _, sp := range ended {
		if sp.Status().Code == codes.Error {
			errSpans++
			if kind := attr(sp, "ckpt.error.kind"); kind != "conflict" && kind != "not_found" {
				t.Errorf("span %s: error kind %q", sp.Name(), kind)
			}
		}
	}
	if errSpans != 2 {
		t.Errorf("%d spans with status Error, want 2 (the conflict and the missing thread)", errSpans)
	}
	if list := byName["ckpt.List"]; len(list) == 1 && attr(list[0], "ckpt.tuples") != "2" {
		t.Errorf("List span: ckpt.tuples %q, want 2", attr(list[0], "ckpt.tuples"))
	}
	if puts := byName["ckpt.Put"]; len(puts) > 0 && attr(puts[0], "ckpt.new_checkpoint_id") != c1.CheckpointID {
		t.Errorf("first Put span: new checkpoint %q, want %s", attr(puts[0], "ckpt.new_checkpoint_id"), c1.CheckpointID)
	}
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// A span started by the caller is the parent of the store call's span.
func TestSpansAreChildrenOfTheCallersSpan(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	sv := ckptotel.NewSaver(openStore(t), tp)
	ctx, parent := tp.Tracer("app").Start(ctx, "step")
	if _, err := put(ctx, sv, ckpt.Config{ThreadID: "t"}, "1", 1); err != nil {
		t.Fatal(err)
	}
	parent.End()
	for _, sp := range spans.Ended() {
		if sp.Name() == "ckpt.Put" && sp.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("ckpt.Put's parent %v, want the caller's span %v", sp.Parent().SpanID(), parent.SpanContext().SpanID())
		}
	}
}
