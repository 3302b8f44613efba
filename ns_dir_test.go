package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/testchild"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// hideNamespace edits the closed file at path so that namespace ns of
// thread reads as if damage hid it: "cp and md" deletes its checkpoint and
// metadata records (two damaged pages, in two buckets), "whole" every key
// of it in every bucket of the thread (its history order too), "flipped"
// moves its checkpoint and metadata records under another namespace (a
// flipped byte of the namespace in their keys; ns must not be empty), and
// "dropped" deletes it as a build of format 7's retention did: every key
// of it and its global index entries, its directory entry (which that
// build does not know) left.
func hideNamespace(t *testing.T, path, thread, ns, how string) {
	t.Helper()
	prefix := nsKey(ns)
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		th := tx.Bucket(bucketThreads).Bucket([]byte(thread))
		subs := [][]byte{bucketCheckpoints, bucketMetadata}
		if how == "whole" || how == "dropped" {
			subs = append(subs, bucketWrites, bucketBlobs, bucketSegments, bucketOrder)
		}
		if how == "dropped" {
			idx := tx.Bucket(bucketIndex)
			var dead [][]byte
			idx.ForEach(func(k, _ []byte) error {
				if _, th, n, err := parseIndexKey(k); err == nil && th == thread && n == ns {
					dead = append(dead, bytes.Clone(k))
				}
				return nil
			})
			for _, k := range dead {
				if err := idx.Delete(k); err != nil {
					return err
				}
			}
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
				if how == "flipped" {
					checkVerifyNamespace(t, path, "thrA", "suc") // records of a namespace not listed
				}
				checkHiddenNamespaceCopies(t, path, "thrA", ns, how == "whole")
			})
		}
	}
}

// checkHiddenNamespaceCopies: Export of thread, whose namespace ns damage
// hides, is ErrCorrupt naming it (a dump would carry the loss on), and a
// copy of it (CopyThread; copies: it succeeds, the history order holding
// nothing of ns) lists ns as its source does, so reads of the copy's ns
// are ErrCorrupt too.
func checkHiddenNamespaceCopies(t *testing.T, path, thread, ns string, copies bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Export(ctx, io.Discard, ExportOptions{Threads: []string{thread}})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("namespace %q", ns)) {
		t.Errorf("Export of thread %q, namespace %q hidden: %v, want ErrCorrupt naming it", thread, ns, err)
	}
	if !copies {
		return
	}
	if err := s.CopyThread(ctx, thread, "copy", CopyOptions{}); err != nil {
		t.Fatalf("CopyThread: %v", err)
	}
	_, err = s.GetTuple(ctx, Config{ThreadID: "copy", CheckpointNS: ns})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("namespace %q", ns)) {
		t.Errorf("GetTuple of the copy's namespace %q: %v, want ErrCorrupt naming it", ns, err)
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

// TestVerifyListsUnlistedNamespace: a namespace whose directory entry is
// gone (a damaged key or page of dir/) still reads as before, and Verify
// lists it.
func TestVerifyListsUnlistedNamespace(t *testing.T) {
	t.Parallel()
	path, _ := goneFile(t)
	editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketDir).Delete(nsDirKey("thrA", "sub")) })
	checkVerifyNamespace(t, path, "thrA", "sub")
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetTuple(context.Background(), Config{ThreadID: "thrA", CheckpointNS: "sub"}); err != nil {
		t.Fatalf("GetTuple of the namespace not listed: %v", err)
	}
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
		s := nsFile(t, Options{}) // with the log: reads meet its overlay
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
		s := nsFile(t, Options{})
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
		// The imported "a" listed: hidden, it reads as ErrCorrupt (by id:
		// any id, none of its checkpoints being found).
		hideNamespace(t, path, "t", "a", "whole")
		checkNamespaceHiddenIsCorrupt(t, path, "t", "a", ulid.Make().String())
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

// nsEntries counts the namespace entries of the directory.
func nsEntries(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.view(context.Background(), func(r reader) error {
		return r.Scan(dirPath, nil, nil, false, func(k, _ []byte) error {
			if _, _, isNS, _ := parseDirKey(k); isNS {
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

// format7File writes 23 threads, each with a checkpoint in the root
// namespace and one in "sub", as a file of format 7 (no namespace in its
// directory), closed.
func format7File(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f7.ckpt")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 23 {
		thread := fmt.Sprintf("t%02d", i)
		if _, err := s.Save(ctx, thread, map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
		vers := map[string]string{"n": "1"}
		if _, err := s.Put(ctx, Config{ThreadID: thread, CheckpointNS: "sub"}, Checkpoint{
			ChannelValues: map[string]any{"n": i}, ChannelVersions: vers,
		}, Metadata{}, vers); err != nil {
			t.Fatal(err)
		}
	}
	toFormat(t, s, 7)
	if n := nsEntries(t, s); n != 0 {
		t.Fatalf("format-7 file with %d namespaces listed", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkNamespacesListed: the file at path is of this build's format, lists
// the 46 namespaces of format7File and passes Verify.
func checkNamespacesListed(t *testing.T, path string, want int) {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := nsEntries(t, s); n != want {
		t.Errorf("after the upgrade: %d namespaces listed, want %d", n, want)
	}
	checkVerifyClean(t, s)
	err = s.view(context.Background(), func(r reader) error {
		if f, err := formatOf(r); err != nil || f != formatVersion {
			t.Errorf("format after the upgrade = %d, %v", f, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeListsNamespaces: a format-7 file lists no namespace; opened
// read-only it reads as before (a namespace entry a killed upgrade left,
// whose namespace a build of format 7 then deleted, is not a false
// ErrCorrupt); the upgrade lists every namespace in steps, drops such an
// entry, and a run killed between its steps is finished by the next Open.
func TestUpgradeListsNamespaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// stale leaves what a killed upgrade and a build of format 7 after it
	// leave: t00's "sub" listed, its records deleted.
	stale := func(t *testing.T, path string) {
		editClosedFile(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketDir).Put(nsDirKey("t00", "sub"), nil)
		})
		hideNamespace(t, path, "t00", "sub", "dropped")
	}
	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		path := format7File(t)
		stale(t, path)
		s, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		checkAbsent(t, s, "t00", "sub")
		checkAbsent(t, s, "t01", "never")
		if _, err := s.GetTuple(ctx, Config{ThreadID: "t01", CheckpointNS: "sub"}); err != nil {
			t.Fatal(err)
		}
		checkVerifyClean(t, s)
	})
	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		path := format7File(t)
		stale(t, path)
		s, err := Open(path, Options{tuning: &tuning{upgradeStepRecords: 5}})
		if err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, s, "t00", "sub")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkNamespacesListed(t, path, 45)
	})
	t.Run("format 7 without a directory", func(t *testing.T) {
		t.Parallel()
		// As written before the directory joined format 7: the upgrade
		// lists threads and namespaces. A file of format 8 that lost its
		// directory is not listed again in silence: Verify reports it.
		path := format7File(t)
		editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketDir) })
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkNamespacesListed(t, path, 46)
		editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketDir) })
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkVerifyNames(t, path, "thread", "t05")
		checkVerifyNamespace(t, path, "t05", "sub")
	})
	t.Run("killed midway", func(t *testing.T) {
		t.Parallel()
		path := format7File(t)
		// TestUpgradeKilledMidwayFinishesOnReopen's child, 5 a step: steps
		// 0-4 clear the directory's 23 keys, 5 and on list the namespaces
		// (3 looks a thread); killed after step 8.
		cmd := exec.Command(testchild.Binary(), "-test.run=^TestUpgradeKilledMidwayFinishesOnReopen$")
		cmd.Env = childEnv("CKPT_UPGRADE_CHILD="+path, "CKPT_UPGRADE_KILL_AT=8")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child was not killed mid-upgrade: %v\n%s", err, out)
		}
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		n := nsEntries(t, ro)
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		if n == 0 || n == 46 {
			t.Fatalf("killed after step 8, the directory lists %d namespaces: not midway", n)
		}
		// A build of format 7 deletes t00's "sub" (listed by the killed
		// run) before this one opens the file again.
		hideNamespace(t, path, "t00", "sub", "dropped")
		ro, err = Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, ro, "t00", "sub")
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, s, "t00", "sub")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkNamespacesListed(t, path, 45)
	})
}

// TestHiddenOnlyNamespaceIsCorrupt: a thread whose one namespace damage
// hides whole (thrB, its root namespace) reads, in every read of the
// thread, as ErrCorrupt naming the namespace, not as a thread without
// checkpoints: a List of all its namespaces, and CopyThread from it or
// onto it (without Replace).
func TestHiddenOnlyNamespaceIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, _ := goneFile(t)
	hideNamespace(t, path, "thrB", "", "whole")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list := func() error {
		for _, err := range s.List(ctx, ListOptions{ThreadID: "thrB"}) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	for name, err := range map[string]error{
		"List(thread)":    list(),
		"CopyThread from": s.CopyThread(ctx, "thrB", "copy", CopyOptions{}),
		"CopyThread to":   s.CopyThread(ctx, "thrA", "thrB", CopyOptions{}),
	} {
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `thread "thrB" namespace ""`) {
			t.Errorf("%s: %v, want ErrCorrupt naming thrB's root namespace", name, err)
		}
	}
}
