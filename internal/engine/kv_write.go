package engine

// The writes of a BoltView (split from kv.go): each checks, before bbolt
// writes, the pages bbolt will rewrite and free for it (write_path.go).

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// mustBucket returns the bucket at p, creating it and the buckets above
// it if missing (create; else nil if missing). The first time in the
// transaction it checks the path to each name in its parent before bbolt
// reads through it (checkName): bbolt rewrites the parent's leaf when a
// bucket changes.
func (v *BoltView) mustBucket(p Path, create bool) (*bolt.Bucket, error) {
	if v.scratch == nil {
		v.scratch = v.scratchBuf[:0]
	}
	v.scratch = appendPath(v.scratch[:0], p)
	if b := v.made[string(v.scratch)]; b != nil {
		return b, nil
	}
	var b *bolt.Bucket
	for _, name := range p {
		if err := v.checkName(b, name); err != nil {
			return nil, err
		}
		var nb *bolt.Bucket
		if b == nil {
			nb = v.tx.Bucket(name)
		} else {
			nb = b.Bucket(name)
		}
		if nb == nil {
			if !create {
				return nil, nil
			}
			var err error
			if b == nil {
				nb, err = v.tx.CreateBucketIfNotExists(name)
			} else {
				nb, err = b.CreateBucketIfNotExists(name)
			}
			if err != nil {
				return nil, fmt.Errorf("ckpt: open bucket: %w", boltRefused(err))
			}
		}
		b = nb
	}
	if v.made == nil {
		v.made = make(map[string]*bolt.Bucket)
	}
	v.made[string(appendPath(v.scratch[:0], p))] = b
	return b, nil
}

func (v *BoltView) Put(p Path, key, value []byte) error {
	if err := Storable(key, value); err != nil {
		return err // before bbolt: its refusal would not wrap ErrCorrupt
	}
	v.wrote = true
	v.added += 1 + int64(len(p))
	b, err := v.mustBucket(p, true)
	if err != nil {
		return err
	}
	if err := v.checkKey(b, key, false); err != nil {
		return err
	}
	return boltRefused(b.Put(key, value))
}

func (v *BoltView) Del(p Path, key []byte) error {
	b, err := v.mustBucket(p, false)
	if b == nil || err != nil {
		return err
	}
	if err := v.checkKey(b, key, true); err != nil {
		return err
	}
	v.wrote = true
	return boltRefused(b.Delete(key))
}

func (v *BoltView) NextSeq(p Path) (uint64, error) {
	v.wrote = true
	v.added += int64(len(p)) // the buckets mustBucket may create
	b, err := v.mustBucket(p, true)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

func (v *BoltView) RaiseSeq(p Path, n uint64) error {
	v.wrote = true
	v.added += int64(len(p)) // the buckets mustBucket may create
	b, err := v.mustBucket(p, true)
	if err != nil {
		return err
	}
	if b.Sequence() >= n {
		return nil
	}
	return b.SetSequence(n)
}
