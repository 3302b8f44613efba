package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// twoThreadFile writes, to a closed file, threads "thrA" and "thrB" of the
// same shape (three checkpoints each, with a value, a list, metadata and a
// pending write), their contents told apart by an "owner" metadata key
// ("A", "B": no record holds a thread id) and by the checkpoint ids. It returns the path and the ids of each thread.
func twoThreadFile(t *testing.T) (string, map[string][]string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "two.db")
	s, err := Open(path, Options{NoWAL: true, Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{}
	for step := range 3 {
		for _, thread := range []string{"thrA", "thrB"} {
			v, owner := fmt.Sprint(step+1), thread[3:] // the records must not hold the id

			vers := map[string]string{"text": v, "items": v}
			cfg := Config{ThreadID: thread}
			if n := len(ids[thread]); n > 0 {
				cfg.CheckpointID = ids[thread][n-1]
			}
			cfg, err := s.Put(ctx, cfg, Checkpoint{
				ChannelValues:   map[string]any{"text": "from " + owner, "items": []any{owner, int64(step)}},
				ChannelVersions: vers,
			}, Metadata{"owner": owner, "step": step}, vers)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWrites(ctx, cfg, []Write{{Channel: "text", Value: "w " + owner}}, "task", ""); err != nil {
				t.Fatal(err)
			}
			ids[thread] = append(ids[thread], cfg.CheckpointID)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// leakedFrom reports what of thread from's a read result holds: a
// checkpoint id or metadata of that thread.
func leakedFrom(v any, from string, ids []string) string {
	isID := func(id string) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
	tuple := func(tp *Tuple) string {
		if tp == nil {
			return ""
		}
		if isID(tp.Config.CheckpointID) {
			return "checkpoint " + tp.Config.CheckpointID
		}
		if tp.Metadata["owner"] == from[3:] {
			return fmt.Sprintf("metadata %v", tp.Metadata)
		}
		return ""
	}
	switch v := v.(type) {
	case *Tuple:
		return tuple(v)
	case []*Tuple:
		for _, tp := range v {
			if s := tuple(tp); s != "" {
				return s
			}
		}
	case []any: // a Snapshot: id, parent, metadata, state
		if id, _ := v[0].(string); isID(id) {
			return "checkpoint " + id
		}
		if md, _ := v[2].(Metadata); md["owner"] == from[3:] {
			return fmt.Sprintf("metadata %v", md)
		}
	}
	return ""
}

// checkNoLeak reads thread victim of the damaged file at path every way
// (latest, by each id of its own and of thread from, List, Load, Latest):
// no read returns a record of thread from, each fails with ErrCorrupt or
// ErrNotFound or returns victim's own; and Verify reports damage.
func checkNoLeak(t *testing.T, path, victim, from string, ids map[string][]string) {
	t.Helper()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	failed := 0
	for _, id := range append(append([]string{""}, ids[from]...), ids[victim]...) {
		for name, read := range recordReads(ro, Config{ThreadID: victim, CheckpointID: id}) {
			if id == "" && (name == "GetTuple by id" || name == "Load") {
				continue
			}
			got, err := read()
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotFound) {
					t.Errorf("%s of %q at %q: %v, want ErrCorrupt or ErrNotFound", name, victim, id, err)
				}
				failed++
				continue
			}
			if s := leakedFrom(got, from, ids[from]); s != "" {
				t.Errorf("%s of thread %q at %q returned thread %q's %s with no error", name, victim, id, from, s)
			}
		}
	}
	if failed == 0 {
		t.Errorf("every read of thread %q succeeded", victim)
	}
	rep, err := ro.Verify(context.Background(), VerifyOptions{})
	if err == nil && rep.OK() {
		t.Errorf("Verify reports nothing")
	}
}

// replaceInFile replaces every occurrence of old in the file at path by
// new (same length), skipping those for which skip says so; it fails the
// test when it replaced none.
func replaceInFile(t *testing.T, path string, old, new []byte, skip func(data []byte, at int) bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for at := 0; ; {
		i := bytes.Index(data[at:], old)
		if i < 0 {
			break
		}
		at += i
		if skip == nil || !skip(data, at) {
			copy(data[at:], new)
			n++
		}
		at += len(old)
	}
	if n == 0 {
		t.Fatalf("%q is not in the file", old)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// notBucketName skips the occurrences of a thread id that are not the name
// of its bucket: those behind a len16 prefix (index and sweep keys).
func notBucketName(data []byte, at int) bool {
	return at >= 2 && data[at-2] == 0 && data[at-1] == 4
}

// TestRenamedThreadBucketIsNotReadAsAnother: a thread's id is the name of
// its bucket, a key in the threads bucket's page that no record sum
// covered before format 6. Renamed by a flipped byte to another existing
// thread's id, bbolt held two equal keys and a read of that thread
// returned the other thread's checkpoints, every sum valid; renamed to a
// new id, the thread answered under it. Every read now fails, and Verify
// lists the damage; renamed to a new id, every read of the thread is
// ErrCorrupt naming it (the directory of threads lists it: thread_dir.go).
func TestRenamedThreadBucketIsNotReadAsAnother(t *testing.T) {
	t.Parallel()
	t.Run("to an existing thread", func(t *testing.T) {
		t.Parallel()
		path, ids := twoThreadFile(t)
		// thrA's bucket is now a second "thrB", sorted before the real
		// one: lookups of thrB find it.
		replaceInFile(t, path, []byte("thrA"), []byte("thrB"), notBucketName)
		checkNoLeak(t, path, "thrB", "thrA", ids)
	})
	t.Run("to a new id", func(t *testing.T) {
		t.Parallel()
		path, ids := twoThreadFile(t)
		// "thr0" sorts where "thrA" did, so bbolt finds it.
		replaceInFile(t, path, []byte("thrA"), []byte("thr0"), notBucketName)
		checkNoLeak(t, path, "thr0", "thrA", ids)
		checkHiddenIsCorrupt(t, path, "thrA", "", ids["thrA"][1])
	})
}

// TestRedirectedThreadRootIsNotReadAsAnother: a damaged page id, here the
// root page of thread thrB's bucket in the threads bucket's page, made to
// point at thread thrA's: the keys in thrA's pages (namespaces and ids)
// do not name the thread, so before format 6 every read of thrB returned
// thrA's records, every sum valid. Now they fail, and Verify lists them.
func TestRedirectedThreadRootIsNotReadAsAnother(t *testing.T) {
	t.Parallel()
	path, ids := twoThreadFile(t)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var rootA, rootB uint64
	var seqB uint64
	err = db.View(func(tx *bolt.Tx) error {
		threads := tx.Bucket(bucketThreads)
		a, b := threads.Bucket([]byte("thrA")), threads.Bucket([]byte("thrB"))
		rootA, rootB, seqB = uint64(a.RootPage()), uint64(b.RootPage()), b.Sequence()
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if rootA == 0 || rootB == 0 {
		t.Fatalf("a thread bucket is inline (roots %d, %d)", rootA, rootB)
	}
	// The leaf element: key "thrB", then its value, the bucket header
	// (root page id, sequence, little-endian).
	old := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64([]byte("thrB"), rootB), seqB)
	redirected := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64([]byte("thrB"), rootA), seqB)
	replaceInFile(t, path, old, redirected, nil)
	checkNoLeak(t, path, "thrB", "thrA", ids)
}
