package ckpt

import (
	"context"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestVerifyDirlessFormat7ReadOnly: a file of format 7 written before the
// directory of threads joined that format has no dir/ bucket. A
// read-write Open lists its threads (upgradeFormat), and every read of a
// read-only handle takes it as it is (a thread not listed is not looked
// for), so Verify on a read-only handle must call it intact too. And
// Verify must still report a directory that is there and misses a thread
// (format 7), and one missing whole from a file of this build's format.
func TestVerifyDirlessFormat7ReadOnly(t *testing.T) {
	t.Parallel()
	openRO := func(t *testing.T, path string) *Store {
		t.Helper()
		s, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	// threadProblems returns the threads Verify reports as missing from
	// the directory, failing on any other problem (but those of the
	// namespaces, with namespaces set: a file of format 8 lists them).
	threadProblems := func(t *testing.T, s *Store, namespaces bool) []string {
		t.Helper()
		rep, err := s.Verify(context.Background(), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var threads []string
		for _, p := range rep.Problems {
			if namespaces && p.Check == "namespace" {
				continue
			}
			if p.Check != "thread" || !strings.Contains(p.Detail, "missing from the directory") {
				t.Errorf("unexpected problem: %v", p)
				continue
			}
			threads = append(threads, p.Thread)
		}
		return threads
	}
	t.Run("dirless format 7", func(t *testing.T) {
		t.Parallel()
		path := format7File(t)
		editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketDir) })
		s := openRO(t, path)
		if got := threadProblems(t, s, false); len(got) != 0 {
			t.Errorf("Verify of an intact dirless format-7 file, read-only, reports %d threads missing from the directory (want none): %q", len(got), got)
		}
	})
	t.Run("format 7 missing one entry", func(t *testing.T) {
		t.Parallel()
		path := format7File(t)
		editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketDir).Delete(dirKey("t05")) })
		if got := threadProblems(t, openRO(t, path), false); len(got) != 1 || got[0] != "t05" {
			t.Errorf("Verify reports threads %q missing from the directory, want [t05]", got)
		}
	})
	t.Run("format 8 without its directory", func(t *testing.T) {
		t.Parallel()
		path := format7File(t)
		s, err := Open(path, Options{Durability: NoSync}) // upgraded to this build's format
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketDir) })
		if got := threadProblems(t, openRO(t, path), true); len(got) != 23 {
			t.Errorf("Verify reports %d threads missing from the directory, want all 23", len(got))
		}
	})
}
