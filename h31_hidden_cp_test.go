package ckpt

// A thread listed in the directory of threads whose bucket is found but
// whose checkpoint records' bucket (cp/) is not: a damaged key in the
// thread's page (the sub-bucket's name) hides every checkpoint of it, and
// its history order (ids/) with it.
// GetTuple says ErrCorrupt (tupleReader.absent), and so must List of the
// thread: in a file of format 7 (read-only, or once a read-write Open
// upgraded it, which lists no namespace of the thread since none is
// found) List yielded nothing and no error (h31-oldfmt hunt, seed 40540:
// a byte of "cp" in put-0's page).

import (
	"context"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestListOfAThreadWithoutItsCheckpointBucketIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, readOnly := range []bool{true, false} {
		path := format7File(t)
		editClosedFile(t, path, func(tx *bolt.Tx) error {
			// The name "cp" damaged to sort last hides it and the bucket
			// after it in the page, the history order (ids/), from
			// lookups: as if both were gone.
			th := tx.Bucket(bucketThreads).Bucket([]byte("t00"))
			if err := th.DeleteBucket(bucketCheckpoints); err != nil {
				return err
			}
			return th.DeleteBucket(bucketOrder)
		})
		s, err := Open(path, Options{ReadOnly: readOnly})
		if err != nil {
			if !readOnly && errors.Is(err, ErrCorrupt) {
				continue // the upgrade found the damage
			}
			t.Fatal(err)
		}
		for name, o := range map[string]ListOptions{
			"thread":          {ThreadID: "t00"},
			"root namespace":  {ThreadID: "t00", Namespace: NS("")},
			"sub, limit 1":    {ThreadID: "t00", Namespace: NS("sub"), Limit: 1},
			"before the last": {ThreadID: "t00", Before: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"},
		} {
			n, err := 0, error(nil)
			for _, e := range s.List(ctx, o) {
				if err = e; e != nil {
					break
				}
				n++
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("read-only %v: List of the %s = %d checkpoints and %v, want ErrCorrupt", readOnly, name, n, err)
			}
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: "t00"}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("read-only %v: GetTuple = %v, want ErrCorrupt", readOnly, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
