package engine

import (
	"context"
	"path/filepath"
	"testing"
)

// TestH34RevProofRecordReplays: NoSync writes a and b (b's record lag 2),
// a Flush (its proof), a Sync write c (and its proof), then a crash copy:
// the copy opens read-write and read-only with a, b and c, and a solo op
// (everything applied, the log rewound) and Close go through with the
// proofs among the groups.
func TestH34RevProofRecordReplays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true})
	for _, k := range []string{"a", "b"} {
		if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(k)) }}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("c"), []byte("c")) }}); err != nil {
		t.Fatal(err)
	}
	recs := oneProofEach(logRecords(t, path+"-wal"))
	if len(recs) != 5 || !recs[2].proof || !recs[4].proof {
		t.Fatalf("%d records %+v, want 5 (a, b, the proof, c, its proof)", len(recs), recs)
	}
	for _, ro := range []bool{true, false} {
		cp := crashCopyFiles(t, path, filepath.Join(dir, map[bool]string{true: "ro", false: "rw"}[ro]), nil)
		o := opts
		o.LogPath, o.Hooks = cp+"-wal", Hooks{}
		o.Bolt.ReadOnly = ro
		d, err := Open(cp, o)
		if err != nil {
			t.Fatalf("read-only %v: %v", ro, err)
		}
		for _, k := range []string{"a", "b", "c"} {
			if readKey(t, d, k) != k {
				t.Errorf("read-only %v: %s missing", ro, k)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	applyLog(t, e)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	o := opts
	o.Hooks = Hooks{}
	d, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, k := range []string{"a", "b", "c"} {
		if readKey(t, d, k) != k {
			t.Errorf("after Close: %s missing", k)
		}
	}
}
