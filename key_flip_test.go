package ckpt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestFlippedKeyByteIsNotReadAsAnotherRecord: a record's sum covers the
// key it is stored under (format 5, record_sum.go), so a changed byte in a
// key in a leaf page is not read back as another record: here the task id
// of a pending write, which GetTuple returned, before format 5, under a
// task id never written, with no error, and which Verify did not see (the
// write still belongs to its checkpoint). Sealed records
// (Options.Encryption) bind their key through the AEAD's additional data
// as well.
func TestFlippedKeyByteIsNotReadAsAnotherRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{ID: "01JABCDEFGHJKMNPQRSTVWXYZ0", ChannelValues: map[string]any{"a": 1}, ChannelVersions: map[string]string{"a": "1"}}, nil, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: "c", Value: "v"}}, "TASKQQQQ", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The task id lives only in the write's key (and in free pages' stale
	// copies): change it everywhere.
	n := bytes.Count(data, []byte("TASKQQQQ"))
	if n == 0 {
		t.Fatal("the task id is not in the file")
	}
	data = bytes.ReplaceAll(data, []byte("TASKQQQQ"), []byte("TASKQQQR"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	tup, err := ro.GetTuple(ctx, cfg)
	if err == nil {
		for _, w := range tup.PendingWrites {
			if w.TaskID != "TASKQQQQ" {
				t.Errorf("GetTuple returned a pending write of task %q, never written, with no error", w.TaskID)
			}
		}
	}
	rep, err := ro.Verify(ctx, VerifyOptions{})
	if err == nil && rep.OK() {
		t.Errorf("Verify reports nothing for a pending write whose key was changed")
	}
}
