package engine

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Deleting a bucket and all it holds (BoltView.DropBucket), split from
// kv.go: the walk that names nested buckets before bbolt deletes them, and
// its bounds against a damaged file's page cycles.

func (v *BoltView) DropBucket(p Path) error {
	// Its name's path in its parent, whose leaf bbolt rewrites (the pages
	// of the bucket itself, which bbolt frees, are not checked: see
	// write_path.go).
	if parent, err := v.mustBucket(p[:len(p)-1], false); err != nil {
		return err
	} else if parent != nil || len(p) == 1 {
		if err := v.checkName(parent, p[len(p)-1]); err != nil {
			return err
		}
	}
	clear(v.made)
	if b := v.bucket(p); b != nil {
		v.wrote = true
		if err := dropNested(b, len(p), v.added); err != nil {
			return err
		}
	}
	var err error
	if len(p) == 1 {
		v.wrote = true
		err = v.tx.DeleteBucket(p[0])
	} else if parent := v.bucket(p[:len(p)-1]); parent != nil {
		v.wrote = true
		err = parent.DeleteBucket(p[len(p)-1])
	}
	if errors.Is(err, berrors.ErrBucketNotFound) {
		return nil
	}
	return boltRefused(err)
}

// dropNested deletes the buckets nested in b, deepest first, naming them
// all before deleting any. bbolt's DeleteBucket deletes a bucket's nested
// buckets while its cursor walks them; once the bucket was changed in the
// same transaction (its leaf is a node in memory), each deletion shifts the
// node under the cursor, which then skips the next nested bucket: that
// bucket's pages were neither reachable nor freed for good (the page leak
// of a failed import: the applier replays the import and its undo in one
// transaction). With no nested buckets left, DeleteBucket has none to skip.
//
// The walk counts b's keys, and more than its pages can hold (one 16-byte
// element each, in a file of tx.Size() bytes) and the transaction added
// (added: in bbolt's memory, not yet in the file; a young file is small,
// and a thread given 5,000 pending writes and deleted in one applied batch
// failed the store, TestDeletingAThreadOfManyKeysInOneBatchIsNotCorrupt)
// is ErrCorrupt: a page cycle,
// which writes on a damaged file can make after the Open's page check
// passed, has the cursor go round for ever (and the names pile up); so do
// buckets nested deeper than maxBucketDepth (a bucket naming one above
// it). Either is found before bbolt's DeleteBucket walks the same pages.
func dropNested(b *bolt.Bucket, depth int, added int64) error {
	if depth > maxBucketDepth {
		return fmt.Errorf("%w: buckets nested deeper than %d", ErrCorrupt, maxBucketDepth)
	}
	limit := b.Tx().Size()/elemSize + 1 + added
	var names [][]byte
	var n int64
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n > limit {
			return fmt.Errorf("%w: a bucket yields more keys than its file can hold (%d): a cycle of pages", ErrCorrupt, limit)
		}
		if v == nil {
			names = append(names, bytes.Clone(k))
		}
	}
	for _, name := range names {
		sub := b.Bucket(name)
		if sub == nil {
			return fmt.Errorf("%w: nested bucket %q is found by a walk but not by a lookup", ErrCorrupt, name)
		}
		if err := dropNested(sub, depth+1, added); err != nil {
			return err
		}
		if err := b.DeleteBucket(name); err != nil {
			return err
		}
	}
	return nil
}
