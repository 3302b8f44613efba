package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/internal/pagedamage"
)

// clearBucketFlag clears the bucket flag of the element named name in the
// bucket at parent (nil: the root) of the closed bbolt file at path: bbolt
// then reads the bucket as a value of its 16-byte header. It fails the test
// unless exactly one leaf element of the parent's pages matches.
func clearBucketFlag(t *testing.T, path string, parent [][]byte, name []byte) {
	t.Helper()
	root, ps, data := bucketRoot(t, path, parent...)
	if hits := pagedamage.ClearBucketFlag(data, root, ps, name); hits != 1 {
		t.Fatalf("%d bucket elements named %q under %q", hits, name, parent)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBucketReadAsValueIsRefusedBeforeLogged: a cleared bucket flag in a
// leaf element (bbolt keeps no checksum of a page) makes a bucket read as
// a value of its 16-byte header; the page check passes (the bucket's pages
// are only unreached). A write that needs the bucket found it missing, and
// the overlay logged and acknowledged its creation; bbolt refused it when
// the applier wrote the group (CreateBucketIfNotExists: "incompatible
// value"): the store failed, the Save acknowledged after it was lost, and
// every Open failed replaying the group, the whole file lost to one bit.
// Without the log, bbolt's refusal was not ErrCorrupt. The write that
// would create a bucket where a value stands is ErrCorrupt when it runs,
// before anything is logged; the store goes on.
func TestBucketReadAsValueIsRefusedBeforeLogged(t *testing.T) {
	t.Parallel()
	thread := [][]byte{bucketThreads, []byte("t")}
	for _, c := range []struct {
		parent [][]byte
		name   []byte
	}{
		{thread, bucketCheckpoints},
		{thread, bucketMetadata},
		{thread, bucketWrites},
		{thread, bucketBlobs},
		{thread, bucketOrder},
		{nil, bucketDir},
	} {
		for _, noWAL := range []bool{false, true} {
			name := fmt.Sprintf("%s/NoWAL=%v", bytes.Join(append(c.parent, c.name), []byte("/")), noWAL)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				bucketAsValueCase(t, c.parent, c.name, noWAL)
			})
		}
	}
}

func bucketAsValueCase(t *testing.T, parent [][]byte, name []byte, noWAL bool) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: noWAL})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for i := range 3 {
		if id, err = s.Save(ctx, "t", map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, []Write{{Channel: "x", Value: 1}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clearBucketFlag(t, path, parent, name)
	s, err = Open(path, Options{NoWAL: noWAL})
	if err != nil {
		t.Fatalf("open: %v", err) // the page check passes: a bucket's pages left unreached
	}
	refused := 0
	check := func(what string, err error) bool {
		t.Helper()
		switch {
		case err == nil:
			return true
		case errors.Is(err, ErrCorrupt) && !engine.FromPanic(err):
			refused++
		default:
			t.Errorf("%s: %v, want success or ErrCorrupt", what, err)
		}
		return false
	}
	// A namespace of thread t the directory does not list: its writes
	// need every bucket of the thread.
	_, err = s.Put(ctx, Config{ThreadID: "t", CheckpointNS: "sub"}, Checkpoint{ChannelValues: map[string]any{"a": 1}}, nil, map[string]string{"a": "1"})
	check("Put in a new namespace", err)
	err = s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id}, []Write{{Channel: "y", Value: 2}}, "task2", "")
	check("PutWrites", err)
	// With ids/ a value, the thread read as one without history:
	// CopyThread said ErrNotFound, "no checkpoint to copy", though cp/
	// holds them (TestH28ElementHeaderSweep, seed 7161).
	check("CopyThread", s.CopyThread(ctx, "t", "t2", CopyOptions{}))
	// Acknowledged after them: must survive.
	var saved []string
	for i := range 3 {
		id, err := s.Save(ctx, "u", map[string]any{"n": i}, nil)
		if check("Save to a new thread", err) {
			saved = append(saved, id)
		}
	}
	if refused == 0 {
		t.Errorf("no write met the bucket read as a value")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v (the store failed applying what it acknowledged)", err)
	}
	s, err = Open(path, Options{NoWAL: noWAL})
	if err != nil {
		t.Fatalf("reopen: %v (the log holds a group bbolt refuses)", err)
	}
	defer s.Close()
	if len(saved) > 0 {
		snap, err := s.Latest(ctx, "u")
		if err != nil || snap.CheckpointID != saved[len(saved)-1] {
			t.Errorf("the Saves acknowledged after the refused writes: %v, %v; want %s", snap, err, saved[len(saved)-1])
		}
	}
}
