package ckpt

// Compaction: Compact runs the engine's compaction
// (internal/engine/compact.go) as a solo op of the commit loop, so that
// writers wait in the queue meanwhile.

import (
	"context"
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// CompactStats are the file sizes around a compaction.
type CompactStats struct {
	BytesBefore int64 // after the write-ahead log is applied, which compaction does first
	BytesAfter  int64
}

// Compact rewrites the live data into a new file and atomically replaces
// the store's file with it, giving freed space back to the file system
// (the write-ahead log's too: it is cut back to 4 MB at the next write).
// Writes wait (queued) until it ends, or until their ctx ends (then
// ctx.Err(), nothing written); reads go on. progress, if set, is
// called from time to time with the keys copied so far and the total.
// If ctx ends or the copy fails, the store keeps its old file unchanged.
// If the directory's fsync fails after the new file was renamed in place,
// the store fails (ErrFailed, fail-stop): the rename may not be durable,
// and writes acknowledged on top of it could vanish with it; the next
// read-write Open compacts again (a new file, a new rename) before it
// acknowledges anything. An error after the rename wraps a
// *ReplacedError (the file at the path is the compacted one), and
// ErrNotDurable when it was that fsync that failed (not when the commit
// clearing the new file's mark after a good fsync did: its name is
// durable, and the next read-write Open compacts once more); any other
// error left the old file in place.
// The store's directory needs room for a second copy of the live data.
func (s *Store) Compact(ctx context.Context, progress func(done, total int64)) (_ CompactStats, err error) {
	var st CompactStats
	defer s.compactDone(&st, &err)()
	err = s.writing(ctx, func() error {
		return s.eng.Solo(ctx, func() error {
			es, err := s.eng.Compact(ctx, progress)
			st = CompactStats(es)
			return err
		})
	})
	return st, err
}

// compactUnsyncedSwap compacts again a file that a Compact renamed into
// place before its fsync of the directory failed
// (internal/engine/compact_swap.go): that rename may never be durable,
// so a power cut could bring back the old file at the path, without
// whatever this Open would acknowledge in the new one. A new file under
// a new rename, whose directory fsync succeeds, takes its place first.
func (s *Store) compactUnsyncedSwap() error {
	if !s.eng.SwapUnsynced() {
		return nil
	}
	if _, err := s.Compact(context.Background(), nil); err != nil {
		return fmt.Errorf("the file was renamed into place by a compaction whose fsync of the directory failed, and compacting it again failed: %w", err)
	}
	return nil
}

func syncDir(dir string) error { return engine.SyncDir(dir) }
