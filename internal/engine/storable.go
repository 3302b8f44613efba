package engine

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
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
