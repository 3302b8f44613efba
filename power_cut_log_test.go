package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestOpenSaysWhatAPowerCutsRecordsItDropped: a log whose NoSync records
// end in a bad one followed by one written before it was durable (what a
// power cut during their fsync may leave) opens, without those two
// groups, and Options.Logger hears which groups were dropped and where.
func TestOpenSaysWhatAPowerCutsRecordsItDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	// The applier held: it would fsync the log before bbolt takes a
	// group, and a record written after that fsync says the one before
	// it was durable, so its damage is refused, not dropped (a slow run,
	// -race under load, failed so in CI at 472ac0f).
	s, err := Open(path, Options{Durability: NoSync, tuning: &tuning{hooks: engine.Hooks{HoldApplier: true}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		id, err := s.Save(ctx, "t", map[string]any{"n": i}, Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The files as a power cut may leave them: the last two records
	// (NoSync, neither fsync'd) are in the log, the earlier of them torn.
	cp := filepath.Join(dir, "img.db")
	for _, suf := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp+suf, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sc, err := engine.ScanLog(cp+"-wal", 0)
	if err != nil || sc.Damage != nil || len(sc.Groups) < 2 {
		t.Fatalf("the log: %+v, %v", sc, err)
	}
	off := int64(24) // the log's header
	for _, g := range sc.Groups[:len(sc.Groups)-2] {
		off += int64(g.Size)
	}
	torn := sc.Groups[len(sc.Groups)-2].Gen
	data, err := os.ReadFile(cp + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	clear(data[off+24+8 : off+24+16]) // inside its body: its crc fails
	if err := os.WriteFile(cp+"-wal", data, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	r, err := Open(cp, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatalf("Open of what a power cut left: %v", err)
	}
	defer r.Close()
	rec := logs.one(t, "ckpt: opened: the write-ahead log ended in records a power cut left half-written, none acknowledged as durable: dropped")
	if first, last := rec["groups_dropped_first"], rec["groups_dropped_last"]; first != float64(torn) || last != float64(torn+1) {
		t.Errorf("logged groups %v-%v dropped, want %d-%d", first, last, torn, torn+1)
	}
	// The checkpoints before the dropped groups read back.
	for i, id := range ids[:2] {
		if _, err := r.Load(ctx, "t", id); err != nil {
			t.Errorf("checkpoint %d (%s): %v", i, id, err)
		}
	}
}
