package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// hideNamespace edits the closed file at path so that namespace ns of
// thread reads as if damage hid it: "cp and md" deletes its checkpoint and
// metadata records (two damaged pages, in two buckets), "whole" every key
// of it in every bucket of the thread (its history order too), "flipped"
// moves its checkpoint and metadata records under another namespace (a
// flipped byte of the namespace in their keys; ns must not be empty).
func hideNamespace(t *testing.T, path, thread, ns, how string) {
	t.Helper()
	prefix := nsKey(ns)
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		th := tx.Bucket(bucketThreads).Bucket([]byte(thread))
		subs := [][]byte{bucketCheckpoints, bucketMetadata}
		if how == "whole" {
			subs = append(subs, bucketWrites, bucketBlobs, bucketSegments, bucketOrder)
		}
		for _, sub := range subs {
			b := th.Bucket(sub)
			if b == nil {
				continue
			}
			var ks, vs [][]byte
			b.ForEach(func(k, v []byte) error {
				ours := bytes.HasPrefix(k, prefix)
				if bytes.Equal(sub, bucketOrder) {
					ours = len(k) >= idLen && string(k[idLen:]) == ns
				}
				if ours {
					ks, vs = append(ks, bytes.Clone(k)), append(vs, bytes.Clone(v))
				}
				return nil
			})
			if len(ks) == 0 {
				return fmt.Errorf("thread %q namespace %q: nothing in %s", thread, ns, sub)
			}
			for i, k := range ks {
				if err := b.Delete(k); err != nil {
					return err
				}
				if how == "flipped" {
					moved := bytes.Clone(k)
					moved[len(prefix)-1]++ // the namespace's last byte
					if err := b.Put(moved, vs[i]); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// TestHiddenNamespaceIsCorrupt: inside a thread whose bucket is found, a
// namespace whose checkpoint and metadata records are both hidden read as
// never written: GetTuple of its newest checkpoint said ErrNotFound, and a
// subgraph resuming it started again, its acknowledged checkpoints lost.
// Now every read of it is ErrCorrupt naming thread and namespace, and
// Verify lists the namespace in the directory without its checkpoints.
func TestHiddenNamespaceIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"cp and md", "whole", "flipped"} {
		for _, ns := range []string{"", "sub"} {
			if how == "flipped" && ns == "" {
				continue
			}
			t.Run(fmt.Sprintf("%s/%q", how, ns), func(t *testing.T) {
				t.Parallel()
				path, ids := goneFile(t)
				hideNamespace(t, path, "thrA", ns, how)
				checkNamespaceHiddenIsCorrupt(t, path, "thrA", ns, ids[ns][len(ids[ns])-1])
				checkVerifyNamespace(t, path, "thrA", ns)
			})
		}
	}
}

// checkNamespaceHiddenIsCorrupt: every read of thread's namespace ns in
// the file at path (id one of its checkpoints) is ErrCorrupt naming the
// thread and the namespace, read-only and read-write.
func checkNamespaceHiddenIsCorrupt(t *testing.T, path, thread, ns, id string) {
	t.Helper()
	for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}} {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, read := range threadReads(s, thread, ns, id) {
			if name == "List(thread)" || name == "List(all)" {
				continue // they list the thread's other namespaces
			}
			err := read()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("%q", thread)) ||
				!strings.Contains(err.Error(), fmt.Sprintf("namespace %q", ns)) {
				t.Errorf("read-only %v: %s of thread %q namespace %q: %v, want ErrCorrupt naming thread and namespace", opts.ReadOnly, name, thread, ns, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkVerifyNamespace: Verify of the file at path lists a "namespace"
// problem naming thread and ns.
func checkVerifyNamespace(t *testing.T, path, thread, ns string) {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		if p.Check == "namespace" && p.Thread == thread && p.Namespace == ns {
			return
		}
	}
	t.Errorf("Verify lists no namespace problem of thread %q namespace %q: %v", thread, ns, rep.Problems)
}

// TestHiddenNamespaceRefusesNewHistory: a Put that would start a namespace
// whose records damage hides is ErrCorrupt (it would start the subgraph
// again on top of the hidden one), and so is a PutWrites onto one of its
// checkpoints; the thread's other namespaces take writes as before.
func TestHiddenNamespaceRefusesNewHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, ids := goneFile(t)
	hideNamespace(t, path, "thrA", "sub", "whole")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vers := map[string]string{"text": "9"}
	cp := Checkpoint{ChannelValues: map[string]any{"text": "again"}, ChannelVersions: vers}
	if _, err := s.Put(ctx, Config{ThreadID: "thrA", CheckpointNS: "sub"}, cp, Metadata{}, vers); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Put starting the hidden namespace again: %v, want ErrCorrupt", err)
	}
	cfg := Config{ThreadID: "thrA", CheckpointNS: "sub", CheckpointID: ids["sub"][1]}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: "text", Value: "w"}}, "task2", ""); !errors.Is(err, ErrCorrupt) {
		t.Errorf("PutWrites onto a checkpoint of the hidden namespace: %v, want ErrCorrupt", err)
	}
	if _, err := s.Put(ctx, Config{ThreadID: "thrA", CheckpointNS: "other"}, cp, Metadata{}, vers); err != nil {
		t.Errorf("Put starting a new namespace of the thread: %v", err)
	}
	if _, err := s.Put(ctx, Config{ThreadID: "thrA", CheckpointID: ids[""][2]}, cp, Metadata{}, vers); err != nil {
		t.Errorf("Put in the thread's root namespace: %v", err)
	}
}

// nsFile writes thread "t" with checkpoints in the root namespace (run
// r1) and in namespaces "a" and "b" (run r2), each with a pending write,
// and returns the open store.
func nsFile(t *testing.T, opts Options) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(t.TempDir()+"/ns.db", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, c := range []struct{ ns, run string }{{"", "r1"}, {"a", "r2"}, {"b", "r2"}, {"", "r1"}} {
		parent := ""
		if tp, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointNS: c.ns}); err == nil {
			parent = tp.Config.CheckpointID
		}
		for step := range 2 {
			vers := map[string]string{"text": fmt.Sprint(step + 1)}
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: c.ns, CheckpointID: parent}, Checkpoint{
				ChannelValues: map[string]any{"text": fmt.Sprint(c.ns, step)}, ChannelVersions: vers,
			}, Metadata{"step": step, "run_id": c.run}, vers)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWrites(ctx, cfg, []Write{{Channel: "text", Value: "w"}}, "task", ""); err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	return s
}

// TestDroppedNamespaceIsNotFound: a namespace retention removed whole
// (DeleteForRuns), a thread deleted, and a namespace never written read as
// before: ErrNotFound, or nothing, and Verify finds nothing wrong; a
// namespace copied (CopyThread) or imported is listed like one written.
func TestDroppedNamespaceIsNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("DeleteForRuns", func(t *testing.T) {
		t.Parallel()
		s := nsFile(t, Options{NoWAL: true})
		if err := s.DeleteForRuns(ctx, []string{"r2"}); err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, s, "t", "a")
		checkAbsent(t, s, "t", "b")
		checkVerifyClean(t, s)
		if _, err := s.GetTuple(ctx, Config{ThreadID: "t"}); err != nil {
			t.Fatalf("the root namespace after its sibling's removal: %v", err)
		}
	})
	t.Run("DeleteThread", func(t *testing.T) {
		t.Parallel()
		s := nsFile(t, Options{NoWAL: true})
		if err := s.DeleteThread(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, s, "t", "a")
		checkVerifyClean(t, s)
		if n := dirEntries(t, s, "t"); n != 0 {
			t.Fatalf("the deleted thread keeps %d directory entries", n)
		}
	})
	t.Run("never written", func(t *testing.T) {
		t.Parallel()
		s := nsFile(t, Options{NoWAL: true})
		checkAbsent(t, s, "t", "never")
		checkAbsent(t, s, "nothread", "a")
		checkVerifyClean(t, s)
	})
	t.Run("CopyThread and Import", func(t *testing.T) {
		t.Parallel()
		s := nsFile(t, Options{NoWAL: true})
		if err := s.CopyThread(ctx, "t", "copy", CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		var dump bytes.Buffer
		if _, err := s.Export(ctx, &dump, ExportOptions{Threads: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
		path := t.TempDir() + "/imported.db"
		d, err := Open(path, Options{NoWAL: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Import(ctx, &dump, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		checkVerifyClean(t, s)
		checkVerifyClean(t, d)
		if n := dirEntries(t, d, "t"); n != 3 {
			t.Errorf("the imported thread has %d namespaces listed, want 3", n)
		}
		if n := dirEntries(t, s, "copy"); n != 3 {
			t.Errorf("the copied thread has %d namespaces listed, want 3", n)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		hideNamespace(t, path, "t", "a", "whole")
		checkNamespaceHiddenIsCorrupt(t, path, "t", "a", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	})
}

// dirEntries counts the namespaces the directory lists for thread.
func dirEntries(t *testing.T, s *Store, thread string) int {
	t.Helper()
	n := 0
	err := s.view(context.Background(), func(r reader) error {
		return r.Scan(dirPath, dirKey(thread), nil, false, func(k, _ []byte) error {
			if len(k) > len(dirKey(thread)) {
				n++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
