package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogGroupTheFileRefusesIsRecoverable: a log that holds a group bbolt
// refuses (one an older build acknowledged: it created a bucket where a
// damaged page left a value, TestBucketReadAsValueIsRefusedBeforeLogged;
// here the ids/ bucket's element lost its flag after the group was logged)
// failed every Open replaying that group, with no word of what to do, and
// RecoverLog found the log whole and left it alone: the store could not
// be opened at all. Open's error wraps ErrCorrupt and names `ckpt recover`;
// RecoverLog keeps the groups before the refused one, moves the log aside
// and says which groups it dropped; the store then opens with the write
// acknowledged before that group.
func TestLogGroupTheFileRefusesIsRecoverable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Save(ctx, "t", map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openUnapplied(t, path)
	kept, err := s.Save(ctx, "u", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"n": 9}, nil); err != nil { // writes threads/t/ids
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "u", map[string]any{"n": 2}, nil); err != nil {
		t.Fatal(err)
	}
	cp := crashCopy(t, s)
	// ids/ of a thread of 3 checkpoints is an inline bucket: with its flag
	// lost no page is left unreached, and the file's pages all check.
	clearBucketFlag(t, cp, [][]byte{bucketThreads, []byte("t")}, bucketOrder)
	_, err = Open(cp, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ckpt recover") {
		t.Errorf("Open of a log holding a group the file refuses: %v, want ErrCorrupt naming `ckpt recover`", err)
	}
	if ro, err := Open(cp, Options{ReadOnly: true}); err == nil {
		ro.Close()
	} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ckpt recover") {
		t.Errorf("read-only Open: %v, want success or ErrCorrupt naming `ckpt recover`", err)
	}
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	// Groups 1-3 are the first Saves (applied), 4 the kept Save, 5 the
	// refused one, 6 the Save after it.
	if !st.Damaged || st.KeptGroups != 1 || st.DroppedFirst != 5 || st.DroppedLast != 6 || st.MovedTo == "" || st.Reason == "" {
		t.Errorf("RecoverLog: %+v, want damaged, 1 group kept, groups 5-6 dropped, the log moved aside", st)
	}
	s2, err := Open(cp, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	defer s2.Close()
	if snap, err := s2.Latest(ctx, "u"); err != nil || snap.CheckpointID != kept {
		t.Errorf("the Save acknowledged before the refused group: %v, %v; want %s", snap, err, kept)
	}
}
