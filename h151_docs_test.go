package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestH151ReadOnlyApplyLogIsErrReadOnly pins what ApplyLog and Flush do on
// a store opened read-only, as their doc comments say: ErrReadOnly, the
// file left as it is. The handle here reads a log a killed writer left (a
// copy of a live store's file and log), so there is something to apply:
// a read-only handle must not write it into the file, and a tool that
// calls ApplyLog before it reads or copies the file itself hears that the
// file does not hold it, instead of a nil that says it does.
func TestH151ReadOnlyApplyLogIsErrReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "live.db")
	s, err := ckpt.Open(src, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The store keeps its log while open: copy both, as a kill leaves them.
	cp := filepath.Join(dir, "copy.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(src + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(cp, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.ApplyLog(ctx); !errors.Is(err, ckpt.ErrReadOnly) {
		t.Errorf("ApplyLog on a read-only store: %v, want ErrReadOnly", err)
	}
	if err := ro.Flush(ctx); !errors.Is(err, ckpt.ErrReadOnly) {
		t.Errorf("Flush on a read-only store: %v, want ErrReadOnly", err)
	}
	after, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("ApplyLog on a read-only store changed its file")
	}
	// The log is still read: the handle sees the write it holds.
	snap, err := ro.Latest(ctx, "t")
	if err != nil || snap.CheckpointID != id {
		t.Errorf("read-only Latest: %v, %v; want %s", snap, err, id)
	}
}

// TestH151PutSentAgainNeedsItsTS pins what "the same record" means in
// WriteOptions.IfHead's promise that a Put sent again with its checkpoint
// already stored succeeds wherever the head is now: the record holds the
// checkpoint's time, and a zero TS is the time of each call. So a Put that
// gave its ID and TS succeeds when sent again after the head moved on,
// while one that gave its ID alone is a new record under a stored id and
// fails with ErrConflict, writing nothing.
func TestH151PutSentAgainNeedsItsTS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "a.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ih := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
	const first, second = "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW"
	for _, tc := range []struct {
		thread string
		ts     time.Time
		want   error
	}{
		{"given", time.Date(2026, 12, 6, 1, 2, 3, 4, time.UTC), nil},
		{"zero", time.Time{}, ckpt.ErrConflict},
	} {
		put := func() (ckpt.Config, error) {
			return s.Put(ih, ckpt.Config{ThreadID: tc.thread}, ckpt.Checkpoint{ID: first, TS: tc.ts}, ckpt.Metadata{"step": 1}, nil)
		}
		cfg, err := put()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ih, cfg, ckpt.Checkpoint{ID: second}, nil, nil); err != nil {
			t.Fatal(err)
		}
		_, err = put() // sent again: the head has moved on to second
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s TS: Put sent again: %v, want %v", tc.thread, err, tc.want)
		}
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: tc.thread})
		if err != nil || tp.Config.CheckpointID != second {
			t.Errorf("%s TS: head %v, %v; want %s", tc.thread, tp, err, second)
		}
	}
}
