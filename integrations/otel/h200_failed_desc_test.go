package ckptotel_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	ckptotel "github.com/ckpt-go/ckpt/integrations/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestFailedMetricSaysEveryCause: a store stops taking writes after an
// I/O error, on damage its checks found in its file, or once its file or
// log was removed or renamed under it (internal/engine/failstop.go). The
// ckpt.failed gauge's description said "after an I/O error": a dashboard
// showing 1 for a store whose log a cleanup script removed sent the
// operator to the disk. Here the log is removed: the gauge is 1, and its
// description must name all three causes.
func TestFailedMetricSaysEveryCause(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	reg, err := ckptotel.RegisterMetrics(mp.Meter(ckptotel.ScopeName), s)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if _, err := s.Save(ctx, "t", map[string]any{"i": 0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + "-wal"); err != nil {
		t.Skipf("cannot remove an open file here: %v", err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"i": 1}, nil); !errors.Is(err, ckpt.ErrFailed) {
		t.Fatalf("Save after the log was removed: %v, want ErrFailed", err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != ckptotel.MetricFailed {
				continue
			}
			found = true
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != 1 {
				t.Errorf("%s = %+v, want one point of 1", m.Name, m.Data)
			}
			for _, w := range []string{"I/O error", "damage", "removed or renamed"} {
				if !strings.Contains(m.Description, w) {
					t.Errorf("%s's description %q does not name %q as a cause", m.Name, m.Description, w)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no %s collected", ckptotel.MetricFailed)
	}
}
