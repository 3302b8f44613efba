package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// editClosedFile runs fn in one bbolt update of the closed store file at
// path, as a tool (or damage) would change it behind the store's back.
func editClosedFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// deleteBlob removes the stored value of (ns, channel, version) of thread
// from a closed file, as a damaged key or page would hide it.
func deleteBlob(t *testing.T, path, thread, ns, channel, version string) {
	t.Helper()
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThreads).Bucket([]byte(thread)).Bucket(bucketBlobs)
		k := blobKey(ns, channel, version)
		if b.Get(k) == nil {
			t.Fatalf("no value stored under %q %q %q", ns, channel, version)
		}
		return b.Delete(k)
	})
}

// A checkpoint names every channel's version; the value stored under it
// is part of the checkpoint. When that value is gone (a flipped byte in
// its key or in a branch page above it hides it from the lookup), every
// read of the checkpoint must say ErrCorrupt naming the thread, the
// checkpoint, the channel and the version: a state read back without one
// of its channels is a wrong state (a resumed run would start without its
// messages). Reads used to skip the channel as if it never had a value.
func TestCheckpointWhoseValueIsGoneIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, ns := range []string{"", "sub"} {
		t.Run("ns "+ns, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "gone.db")
			s, err := Open(path, Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			ids := putChain(t, s, "t", ns, 4) // "b" stored once at version "1", shared by all
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			deleteBlob(t, path, "t", ns, "b", "1")
			if s, err = Open(path, Options{}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			named := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s = %v, want ErrCorrupt", what, err)
				}
				for _, part := range []string{`"t"`, `channel "b"`, `version "1"`} {
					if !strings.Contains(err.Error(), part) {
						t.Fatalf("%s: %v does not name %s", what, err, part)
					}
				}
			}
			for _, id := range []string{ids[0], ids[3]} {
				_, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: id})
				named("GetTuple "+id, err)
				_, err = s.NewReader().GetTuple(ctx, Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: id})
				named("Reader.GetTuple "+id, err)
			}
			_, err = s.GetTuple(ctx, Config{ThreadID: "t", CheckpointNS: ns})
			named("GetTuple latest", err)
			for _, opts := range []ListOptions{{ThreadID: "t", Namespace: NS(ns)}, {ThreadID: "t"}, {}} {
				var err error
				for _, err = range s.List(ctx, opts) {
					if err != nil {
						break
					}
				}
				named("List", err)
			}
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("Verify finds nothing wrong")
			}
		})
	}
	t.Run("Save", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "gone.db")
		s, err := Open(path, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"x": "A", "keep": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id})
		if err != nil {
			t.Fatal(err)
		}
		ver := tp.Checkpoint.ChannelVersions["x"]
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		deleteBlob(t, path, "t", "", "x", ver)
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Load(ctx, "t", id); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `channel "x"`) {
			t.Fatalf("Load = %v, want ErrCorrupt naming channel x", err)
		}
	})
}

// A Put may name a channel version it neither stores nor stored before
// (LangGraph's savers read such a channel as having no value). The store
// records that "no value" explicitly, so the reads above can tell it from
// a value that is gone: the channel reads as absent, Verify finds nothing
// wrong, and the version is a promise like any other (storing a value
// under it later is a version conflict, never a silent change).
func TestPutOfAVersionWithNoValueReadsAsAbsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "absent.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg, err := s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{
		ChannelVersions: map[string]string{"x": "1", "y": "1"},
		ChannelValues:   map[string]any{"y": 2},
	}, nil, map[string]string{"y": "1"})
	if err != nil {
		t.Fatal(err)
	}
	// A child that names x's version again (and a new one of z, never given).
	child, err := s.Put(ctx, cfg, Checkpoint{
		ChannelVersions: map[string]string{"x": "1", "y": "2", "z": "7"},
		ChannelValues:   map[string]any{"y": 3},
	}, nil, map[string]string{"y": "2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{cfg, child} {
		tp, err := s.GetTuple(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"x", "z"} {
			if _, ok := tp.Checkpoint.ChannelValues[ch]; ok {
				t.Fatalf("%s: channel %s has a value", c.CheckpointID, ch)
			}
		}
		if _, ok := tp.Checkpoint.ChannelValues["y"]; !ok {
			t.Fatalf("%s: channel y lost", c.CheckpointID)
		}
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("Verify: %v", rep.Problems)
	}
	_, err = s.Put(ctx, child, Checkpoint{
		ChannelVersions: map[string]string{"x": "1", "y": "2", "z": "7"},
		ChannelValues:   map[string]any{"x": "late"},
	}, nil, map[string]string{"x": "1"})
	var vc *VersionConflictError
	if !errors.As(err, &vc) || vc.Channel != "x" {
		t.Fatalf("a value under x's empty version = %v, want a version conflict", err)
	}
}
