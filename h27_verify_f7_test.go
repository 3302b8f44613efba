package ckpt

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestVerifyFormat7IgnoresNamespaceEntries: a file of format 7 may hold
// namespace entries a killed upgrade to 8 left, which a build of format 7
// then neither keeps nor deletes: its DeleteThread drops the thread's
// bucket and its own key, and leaves them. This build reads such a file
// read-only without them (the upgrade clears them before it lists again),
// so Verify must too. On main Verify (and `ckpt verify`, read-only)
// reported the thread as one "whose bucket is not found": a clean file
// called damaged.
func TestVerifyFormat7IgnoresNamespaceEntries(t *testing.T) {
	t.Parallel()
	path := format7File(t)
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		// The killed upgrade listed t00's namespaces ...
		dir := tx.Bucket(bucketDir)
		for _, ns := range []string{"", "sub"} {
			if err := dir.Put(nsDirKey("t00", ns), nil); err != nil {
				return err
			}
		}
		// ... then a build of format 7 deleted t00 (dropThread and the
		// index entries, as deleteThread of format 7).
		if err := tx.Bucket(bucketThreads).DeleteBucket([]byte("t00")); err != nil {
			return err
		}
		if err := dir.Delete(dirKey("t00")); err != nil {
			return err
		}
		idx := tx.Bucket(bucketIndex)
		var dead [][]byte
		if err := idx.ForEach(func(k, _ []byte) error {
			if _, thread, _, err := parseIndexKey(k); err == nil && thread == "t00" {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range dead {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkVerifyClean(t, s)
}
