package ckpt

// Logging: one slog record per notable event, to Options.Logger (nil:
// silent). Records carry their numbers as attributes, so a JSON handler
// gives an operator fields to alert on (groups_replayed, duration, cause).
// Nothing here is on a hot path: these events are rare by nature (an open,
// a fail-stop, a GC run, a compaction, a backup, an fsync already slower
// than Options.SlowFsync).

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// defaultSlowFsync is Options.SlowFsync's zero value: a healthy disk
// fsyncs in well under 10 ms, a busy one in tens; 100 ms means trouble.
const defaultSlowFsync = 100 * time.Millisecond

// newObserver configures the store's metrics and logger from opts.
func newObserver(o *observer, opts Options) {
	o.logger = opts.Logger
	o.off = opts.DisableMetrics
	o.slowFsync = opts.SlowFsync
	if o.slowFsync == 0 {
		o.slowFsync = defaultSlowFsync
	}
}

func (s *Store) log(level slog.Level, msg string, attrs ...slog.Attr) {
	l := s.obs.logger
	if l == nil {
		return
	}
	attrs = append(attrs, slog.String("path", s.path))
	l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (s *Store) logOpen(replayed int) {
	if c := s.eng.LogCut(); c != nil {
		// Not damage: records a power cut left half-written, none of them
		// acknowledged as durable (NoSync writes). Said, so that an
		// operator who sees NoSync writes missing knows where they went.
		s.log(slog.LevelWarn, "ckpt: opened: the write-ahead log ended in records a power cut left half-written, none acknowledged as durable: dropped",
			slog.Int64("log_offset", c.Offset), slog.Uint64("groups_dropped_first", c.Group),
			slog.Uint64("groups_dropped_last", max(c.Group, c.LaterLast)), slog.Int64("bytes_dropped", c.Bytes))
	}
	s.log(slog.LevelInfo, "ckpt: opened", slog.Int("groups_replayed", replayed), slog.Bool("read_only", s.readOnly), slog.Bool("wal", s.eng.Logging()))
}

// logFailStop logs the store's fail-stop, once, with its cause. A store
// failed by damage its checks found is not told to reopen: a read-write
// Open and `ckpt recover` refuse a damaged page, so it says the way out
// that reads what was acknowledged (engine.DamagedFileAdvice, as Close's
// error does).
func (s *Store) logFailStop(src engine.FailSource, cause error) {
	file := "log"
	if src == engine.FailBolt {
		file = "file"
	}
	msg := "ckpt: fail-stop: the store takes no more writes; reopen it"
	if errors.Is(cause, ErrCorrupt) {
		msg = "ckpt: fail-stop: the store takes no more writes: damage found in its file; " + engine.DamagedFileAdvice
	}
	s.log(slog.LevelError, msg, slog.String("failed", file), slog.String("cause", cause.Error()))
}

// logApplyRetry: the background applier found no room on the disk for
// the logged writes; they stay in the log (acknowledged, readable) and it
// tries again.
func (s *Store) logApplyRetry(cause error, after time.Duration) {
	s.log(slog.LevelWarn, "ckpt: disk full: the write-ahead log is not applied to the store file; trying again",
		slog.Duration("retry_in", after), slog.String("cause", cause.Error()))
}

func (s *Store) logSlowFsync(what string, d time.Duration, err error) {
	attrs := []slog.Attr{slog.String("file", what), slog.Duration("duration", d), slog.Duration("threshold", s.obs.slowFsync)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log(slog.LevelWarn, "ckpt: slow fsync", attrs...)
}

func (s *Store) logGC(st GCStats, d time.Duration, err error) {
	level, attrs := doneLevel(err)
	s.log(level, "ckpt: gc", append(attrs,
		slog.Int("threads", st.Threads), slog.Int("checkpoints", st.Checkpoints),
		slog.Int("pending_writes", st.Writes), slog.Int("channel_values", st.Blobs),
		slog.Int("list_segments", st.Segments), slog.Int64("bytes_freed", st.BytesFreed),
		slog.Duration("duration", d))...)
}

func (s *Store) logCompact(st CompactStats, d time.Duration, err error) {
	level, attrs := doneLevel(err)
	s.log(level, "ckpt: compact", append(attrs,
		slog.Int64("bytes_before", st.BytesBefore), slog.Int64("bytes_after", st.BytesAfter),
		slog.Duration("duration", d))...)
}

func (s *Store) logBackup(d time.Duration, err error) {
	level, attrs := doneLevel(err)
	s.log(level, "ckpt: backup", append(attrs, slog.Duration("duration", d))...)
}

// doneLevel is Info for a job that succeeded, Warn with the error for one
// that failed.
func doneLevel(err error) (slog.Level, []slog.Attr) {
	if err != nil {
		return slog.LevelWarn, []slog.Attr{slog.String("error", err.Error())}
	}
	return slog.LevelInfo, nil
}
