package redisstore

import (
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Redis may lose its script cache (SCRIPT FLUSH, a restart, a failover to
// a replica that never loaded the scripts): every call, the pipelined
// reads of List and SweepIndex too, loads its script again and works.
func TestEveryCallWorksAfterScriptFlush(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	flush := func() {
		t.Helper()
		if err := s.Client().ScriptFlush(bg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var c ckpt.Config
	for _, th := range []string{"f1", "f2"} {
		c = step(t, s, ckpt.Config{ThreadID: th}, 1)
		flush()
		c = step(t, s, c, 2)
	}
	flush()
	if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: 1}}, "task", ""); err != nil {
		t.Fatalf("put writes: %v", err)
	}
	flush()
	if tp, err := s.GetTuple(bg, c); err != nil || len(tp.PendingWrites) != 1 {
		t.Fatalf("get: %v %v", tp, err)
	}
	flush()
	n := 0
	for _, err := range s.List(bg, ckpt.ListOptions{Filter: map[string]any{"step": 2}}) {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("list found %d, want 2", n)
	}
	flush()
	if err := s.CopyThread(bg, "f1", "f3", ckpt.CopyOptions{}); err != nil {
		t.Fatalf("copy: %v", err)
	}
	flush()
	if st, err := s.KeepLast(bg, []string{"f1"}, 1); err != nil || st.Checkpoints != 1 {
		t.Fatalf("keep last: %+v %v", st, err)
	}
	flush()
	if err := s.Prune(bg, []string{"f3"}, ckpt.PruneDelete); err != nil {
		t.Fatalf("prune: %v", err)
	}
	flush()
	if err := s.DeleteThread(bg, "f2"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	flush()
	if _, err := s.SweepIndex(bg); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	flush()
	if err := s.DeleteForRuns(bg, []string{"none"}); err != nil {
		t.Fatalf("delete for runs: %v", err)
	}
}
