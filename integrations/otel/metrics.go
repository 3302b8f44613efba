// Package ckptotel exports a ckpt store's metrics and traces its Saver
// calls through OpenTelemetry. It is its own module, so the core store
// depends on no OpenTelemetry package.
//
// Metrics are observable instruments: each collection reads one
// Store.Metrics() snapshot (atomic loads), so nothing is added to the
// store's hot paths. Spans come from a Saver wrapper (NewSaver).
package ckptotel

import (
	"context"
	"errors"
	"strconv"

	"github.com/ckpt-go/ckpt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the meter and tracer this
// package uses by default.
const ScopeName = "github.com/ckpt-go/ckpt/integrations/otel"

// MetricsSource is what RegisterMetrics reads: *ckpt.Store.
type MetricsSource interface {
	Metrics() ckpt.Metrics
}

// Instrument names. Counters are cumulative since the store was opened;
// gauges are the value at collection.
const (
	MetricOps               = "ckpt.operations"           // counter, attribute op
	MetricErrors            = "ckpt.errors"               // counter, attribute kind
	MetricLogBytes          = "ckpt.log.bytes_written"    // counter, By
	MetricFileBytes         = "ckpt.file.bytes_written"   // counter, By
	MetricFsyncs            = "ckpt.log.fsyncs"           // counter
	MetricFsyncSeconds      = "ckpt.log.fsync.duration"   // counter, s (sum of all fsyncs)
	MetricFsyncBuckets      = "ckpt.log.fsync.buckets"    // counter, attribute le (cumulative, seconds; "+Inf")
	MetricCommits           = "ckpt.file.commits"         // counter
	MetricCommitSeconds     = "ckpt.file.commit.duration" // counter, s
	MetricGroups            = "ckpt.groups"               // counter
	MetricGroupWrites       = "ckpt.group.writes"         // counter
	MetricLogPendingBytes   = "ckpt.log.pending_bytes"    // gauge, By
	MetricApplierLagGroups  = "ckpt.applier.lag.groups"   // gauge
	MetricApplierLagSeconds = "ckpt.applier.lag"          // gauge, s
	MetricReplayedGroups    = "ckpt.log.groups_replayed"  // counter
	MetricGCRuns            = "ckpt.gc.runs"              // counter
	MetricGCBytesFreed      = "ckpt.gc.bytes_freed"       // counter, By
	MetricCompactRuns       = "ckpt.compact.runs"         // counter
	MetricCompactBytesFreed = "ckpt.compact.bytes_freed"  // counter, By
	MetricBackups           = "ckpt.backups"              // counter
	MetricOpenSnapshots     = "ckpt.snapshots.open"       // gauge
	MetricFailed            = "ckpt.failed"               // gauge, 1 once the store fail-stopped
)

// RegisterMetrics creates observable instruments on meter, fed from
// src.Metrics() at each collection. Unregister the returned registration
// before closing the store if the meter provider outlives it (a closed
// store still reports its last values).
func RegisterMetrics(meter metric.Meter, src MetricsSource) (metric.Registration, error) {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	seconds := func(name, desc string) metric.Float64ObservableCounter {
		c, err := meter.Float64ObservableCounter(name, metric.WithUnit("s"), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	ops := counter(MetricOps, "{operation}", "Store calls by kind, failed ones included.")
	errCount := counter(MetricErrors, "{error}", "Failed store calls by the sentinel error they wrap.")
	logBytes := counter(MetricLogBytes, "By", "Bytes of acknowledged groups appended to the write-ahead log.")
	fileBytes := counter(MetricFileBytes, "By", "Bytes bbolt wrote to the store file in its commits.")
	fsyncs := counter(MetricFsyncs, "{fsync}", "Fsyncs of the write-ahead log.")
	fsyncSec := seconds(MetricFsyncSeconds, "Total time spent in fsyncs of the write-ahead log.")
	fsyncBuckets := counter(MetricFsyncBuckets, "{fsync}", "Fsyncs of the write-ahead log that took at most le seconds (cumulative).")
	commits := counter(MetricCommits, "{commit}", "bbolt write transactions committed.")
	commitSec := seconds(MetricCommitSeconds, "Total time spent in bbolt commits.")
	groups := counter(MetricGroups, "{group}", "Commit groups made durable.")
	groupWrites := counter(MetricGroupWrites, "{write}", "Calls carried by the commit groups.")
	pending := gauge(MetricLogPendingBytes, "By", "Bytes of log records acknowledged but not yet applied to the file.")
	lagGroups := gauge(MetricApplierLagGroups, "{group}", "Acknowledged groups not yet applied to the file.")
	lagSec, err := meter.Float64ObservableGauge(MetricApplierLagSeconds, metric.WithUnit("s"), metric.WithDescription("How long the oldest unapplied group has waited."))
	errs = append(errs, err)
	replayed := counter(MetricReplayedGroups, "{group}", "Groups replayed at open from a log a crashed run left.")
	gcRuns := counter(MetricGCRuns, "{run}", "GC runs (not dry runs), background sweeps included.")
	gcFreed := counter(MetricGCBytesFreed, "By", "Bytes freed by GC.")
	compactRuns := counter(MetricCompactRuns, "{run}", "Completed compactions.")
	compactFreed := counter(MetricCompactBytesFreed, "By", "Bytes by which compactions shrank the file.")
	backups := counter(MetricBackups, "{backup}", "Completed backups.")
	snapshots := gauge(MetricOpenSnapshots, "{snapshot}", "Read snapshots open now.")
	failed := gauge(MetricFailed, "1", "1 once the store has fail-stopped (stopped taking writes): after an I/O error, on damage found in its file, or its file or log removed or renamed under it.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// Attribute sets are built once: a collection allocates nothing for them.
	opAttrs := make([]metric.ObserveOption, len(ckpt.Ops()))
	for _, op := range ckpt.Ops() {
		opAttrs[op] = metric.WithAttributes(attribute.String("op", op.String()))
	}
	kindAttrs := make([]metric.ObserveOption, len(ckpt.ErrorKinds()))
	for _, k := range ckpt.ErrorKinds() {
		kindAttrs[k] = metric.WithAttributes(attribute.String("kind", k.String()))
	}
	leAttrs := make([]metric.ObserveOption, len(ckpt.LatencyBounds)+1)
	for i, b := range ckpt.LatencyBounds {
		leAttrs[i] = metric.WithAttributes(attribute.String("le", strconv.FormatFloat(b.Seconds(), 'g', -1, 64)))
	}
	leAttrs[len(ckpt.LatencyBounds)] = metric.WithAttributes(attribute.String("le", "+Inf"))

	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m := src.Metrics()
		for i, n := range m.Ops {
			o.ObserveInt64(ops, n, opAttrs[i])
		}
		for i, n := range m.Errors {
			o.ObserveInt64(errCount, n, kindAttrs[i])
		}
		o.ObserveInt64(logBytes, m.LogBytes)
		o.ObserveInt64(fileBytes, m.BoltBytes)
		o.ObserveInt64(fsyncs, m.Fsyncs)
		o.ObserveFloat64(fsyncSec, m.FsyncLatency.Sum.Seconds())
		var cum int64
		for i, n := range m.FsyncLatency.Buckets {
			cum += n
			o.ObserveInt64(fsyncBuckets, cum, leAttrs[i])
		}
		o.ObserveInt64(commits, m.BoltCommits)
		o.ObserveFloat64(commitSec, m.BoltCommitLatency.Sum.Seconds())
		o.ObserveInt64(groups, m.Groups)
		o.ObserveInt64(groupWrites, m.GroupWrites)
		o.ObserveInt64(pending, m.LogPendingBytes)
		o.ObserveInt64(lagGroups, m.ApplierLagGroups)
		o.ObserveFloat64(lagSec, m.ApplierLag.Seconds())
		o.ObserveInt64(replayed, m.LogGroupsReplayed)
		o.ObserveInt64(gcRuns, m.GCRuns)
		o.ObserveInt64(gcFreed, m.GCBytesFreed)
		o.ObserveInt64(compactRuns, m.CompactRuns)
		o.ObserveInt64(compactFreed, m.CompactBytesFreed)
		o.ObserveInt64(backups, m.Backups)
		o.ObserveInt64(snapshots, m.OpenSnapshots)
		var f int64
		if m.Failed {
			f = 1
		}
		o.ObserveInt64(failed, f)
		return nil
	}, ops, errCount, logBytes, fileBytes, fsyncs, fsyncSec, fsyncBuckets, commits, commitSec, groups, groupWrites,
		pending, lagGroups, lagSec, replayed, gcRuns, gcFreed, compactRuns, compactFreed, backups, snapshots, failed)
}
