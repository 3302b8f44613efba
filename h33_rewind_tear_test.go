package ckpt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestPowerCutTearsARecordOverAnEarlierPass: once bbolt holds every group,
// the log rewinds and the next record goes over the records of the
// earlier pass. A power cut during that record's write may leave any of
// its 4 KiB pages on the disk and not the others (nothing orders the
// pages of one write before its fsync ends): here its second page, over
// the middle of an earlier record, and not its first (the earlier pass's
// header and first record stay). Nothing is damaged and nothing of the
// record was acknowledged, so Open must take the files, with every
// acknowledged write, and without the torn record's. (Failed until the
// earlier pass's first record header was cleared before the new pass
// writes there, Log.ClearHead: the earlier pass read from the header
// again, up to the torn page, ending below bbolt's mark.)
func TestPowerCutTearsARecordOverAnEarlierPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	var mu sync.Mutex
	var synced []byte // the log as its last completed fsync began
	var hold func()   // run at the next fsync, before it
	tune := &tuning{}
	tune.hooks.HoldApplier = true
	tune.hooks.SyncLog = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		b, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		// The record's fsync, not the one that clears the earlier pass's
		// first record header before the record is written (Log.ClearHead).
		cleared := len(b) >= engine.HeaderSize+engine.RecordHeaderSize &&
			bytes.Count(b[engine.HeaderSize:engine.HeaderSize+engine.RecordHeaderSize], []byte{0}) == engine.RecordHeaderSize
		if hold != nil && !cleared {
			hold()
			hold = nil
		}
		if err := engine.Fdatasync(f); err != nil {
			return err
		}
		synced = b
		return nil
	}
	s, err := Open(path, Options{tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := func(c byte) string { return strings.Repeat(string(c), 6000) }
	first, err := s.Save(ctx, "t", map[string]any{"v": "small"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Save(ctx, "t", map[string]any{"v": big('b')}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt holds both groups: the next record goes to the log's start.
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	var pre, post, db []byte
	mu.Lock()
	hold = func() {
		var err error
		pre = synced
		if post, err = os.ReadFile(path + walSuffix); err == nil {
			db, err = os.ReadFile(path) // HoldApplier: bbolt's file does not change meanwhile
		}
		if err != nil {
			t.Error(err)
		}
	}
	mu.Unlock()
	if _, err := s.Save(ctx, "t", map[string]any{"v": big('c')}, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if post == nil {
		t.Fatal("no fsync after the third Save")
	}
	const page = 4096
	if len(post) < 2*page || bytes.Equal(pre[:page], post[:page]) || bytes.Equal(pre[page:2*page], post[page:2*page]) {
		t.Fatalf("the third record does not go over both first pages of the earlier pass (log of %d bytes)", len(post))
	}
	img := bytes.Clone(pre)
	copy(img[page:2*page], post[page:2*page])
	cut := filepath.Join(dir, "cut.db")
	if err := os.WriteFile(cut, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut+walSuffix, img, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(cut, Options{})
	if err != nil {
		t.Fatalf("the third record's second page written, not its first: Open: %v", err)
	}
	defer c.Close()
	for id, want := range map[string]string{first: "small", second: big('b')} {
		snap, err := c.Load(ctx, "t", id)
		var got string
		if err == nil {
			err = snap.Decode("v", &got)
		}
		if err != nil || got != want {
			t.Errorf("acknowledged checkpoint %s: %d bytes (%v), want %d", id, len(got), err, len(want))
		}
	}
	n := 0
	for _, err := range c.History(ctx, "t", ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d checkpoints, want the 2 acknowledged", n)
	}
}
