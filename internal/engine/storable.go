package engine

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Storable refuses a key, bucket name or value that bbolt would refuse
// when the write reaches it: an empty key or name, one over
// bolt.MaxKeySize, a value over bolt.MaxValueSize. The commit loop checks
// it as an op runs, before the op's group is logged and acknowledged:
// the applier writes logged groups to bbolt later, and a group bbolt
// refuses there fails the store, and fails every Open's replay after it.
// The store builds every key from checked names, so only bytes read from
// a damaged page (a key size of 0 that a copy takes on) make one: the
// error wraps ErrCorrupt.
func Storable(key, value []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: an empty key (a damaged page: bbolt stores none)", ErrCorrupt)
	case len(key) > bolt.MaxKeySize:
		return fmt.Errorf("%w: a key of %d bytes (a damaged page: bbolt stores at most %d)", ErrCorrupt, len(key), bolt.MaxKeySize)
	case len(value) > bolt.MaxValueSize:
		return fmt.Errorf("%w: a value of %d bytes (a damaged page: bbolt stores at most %d)", ErrCorrupt, len(value), bolt.MaxValueSize)
	}
	return nil
}

// storablePath is Storable for the bucket names of p.
func storablePath(p Path) error {
	for _, name := range p {
		if err := Storable(name, nil); err != nil {
			return fmt.Errorf("bucket name: %w", err)
		}
	}
	return nil
}

// valueHolder is implemented by the readers below the commit loop's
// writer (View, BoltView): ensureBucket asks it before it creates a bucket
// its base does not hold, since bbolt refuses to create a bucket under a
// name that holds a value (ErrIncompatibleValue) when the applier writes
// the group. The store never names a bucket as it names a value: a value
// there is a bucket element whose flag a damaged page lost, which the page
// check cannot tell (the bucket's pages are only left unreached). Asked
// only when a bucket is created, never per Put.
type valueHolder interface {
	holdsValue(p Path, name []byte) bool
}

// holdsValue reports whether the bucket at p (the root when p is empty)
// holds a value, not a bucket, under name.
func (v *BoltView) holdsValue(p Path, name []byte) bool {
	var b *bolt.Bucket
	if len(p) == 0 {
		b = v.tx.Cursor().Bucket()
	} else if b = v.bucket(p); b == nil {
		return false
	}
	k, val := b.Cursor().Seek(name)
	if k == nil || !bytes.Equal(k, name) {
		return false
	}
	// A cursor yields a bucket with a nil value, and so may an empty
	// value a write transaction holds in memory.
	return val != nil || b.Bucket(name) == nil
}

// holdsValue is BoltView's, through the overlay: an entry of v's tree
// decides, else v's base does where its content counts.
func (v *View) holdsValue(p Path, name []byte) bool {
	v.buf = ovKeyOf(v.buf[:0], p, name)
	if it := v.lookup(v.buf); it != nil {
		return it.kind == ovValue
	}
	if _, baseCounts := v.state(p); !baseCounts {
		return false
	}
	vh, ok := v.base.(valueHolder)
	return ok && vh.holdsValue(p, name)
}

// boltRefused wraps err as ErrCorrupt when it is bbolt's refusal of a
// value where a bucket stands or the reverse: the store's layout never
// puts both under one name, so the file's page lost or gained a bucket
// flag (a write without the log meets it in bbolt itself).
func boltRefused(err error) error {
	if errors.Is(err, berrors.ErrIncompatibleValue) {
		return fmt.Errorf("%w: a bucket where a value is stored or the reverse (a damaged page: an element's bucket flag): %w", ErrCorrupt, err)
	}
	return err
}
