package ckpt

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailStopLogOnDamageSaysTheWayOut: a store failed by damage its
// applier found (h254's logged DeleteThread of a thread damaged under the
// open store) logs its fail-stop with the way out a damaged page leaves
// (engine.DamagedFileAdvice: a read-write reopen and `ckpt recover`
// refuse the file), not "reopen it", which Close's error stopped saying
// in dcab44e; a fail-stop on an I/O error keeps its words
// (TestMetricsAndLogOfFailStop).
func TestFailStopLogOnDamageSaysTheWayOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	h253Build(t, path, "wal")
	var logs logBuffer
	s, err := Open(path, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if !h253Damage(t, path, "thread-leaf") {
		t.Fatal("no thread leaf to damage")
	}
	if err := s.DeleteThread(ctx, "t1"); err != nil {
		t.Skipf("DeleteThread returned %v: the applier never met the damage", err)
	}
	if err := s.Close(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Close: %v, want ErrCorrupt (the applier failed on the damage)", err)
	}
	var stops []map[string]any
	logs.mu.Lock()
	for line := range strings.SplitSeq(strings.TrimSpace(logs.buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			logs.mu.Unlock()
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "ckpt: fail-stop") {
			stops = append(stops, rec)
		}
	}
	logs.mu.Unlock()
	if len(stops) != 1 {
		t.Fatalf("%d fail-stop records, want 1: %v", len(stops), stops)
	}
	msg := stops[0]["msg"].(string)
	if strings.Contains(msg, "reopen it") || !strings.Contains(msg, "read-only") || !strings.Contains(msg, "damage") {
		t.Errorf("fail-stop on damage logs %q: want the damage and the way out (a read-only Open, Export SkipDamaged), not \"reopen it\"", msg)
	}
	if cause, _ := stops[0]["cause"].(string); !strings.Contains(cause, "corrupt") {
		t.Errorf("fail-stop cause %q, want the damage", cause)
	}
}
