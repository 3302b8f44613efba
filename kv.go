package ckpt

// The checkpoint code reads and writes only through the engine's Reader and
// Writer (internal/engine/kv.go), whether a change is in bbolt yet or only
// in the log and the overlay. This file holds the helpers it builds on them.

import (
	"bytes"
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// The interfaces and their bbolt implementation live in the engine
// (internal/engine/kv.go); these names keep the checkpoint code short.
type (
	reader     = engine.Reader
	writer     = engine.Writer
	bucketPath = engine.Path
)

// errStop, returned by a scan callback, ends the scan without an error.
var errStop = engine.ErrStop

// keepScanning continues a scan while ok and ends it (without an error)
// once not.
func keepScanning(ok bool) error {
	if ok {
		return nil
	}
	return errStop
}

// delAll deletes keys from the bucket at p and returns how many it
// deleted before any error. Callers collect keys first and delete after
// their scan: a bbolt cursor must not walk a bucket that is changing.
func delAll(w writer, p bucketPath, keys [][]byte) (int, error) {
	for i, k := range keys {
		if err := w.Del(p, k); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}

// deleteRange deletes up to limit keys with prefix from the bucket at p,
// skipping those keep reports (nil keeps none), and adds their sizes to
// *freed. complete is false when deletable keys remain past the limit.
func deleteRange(w writer, p bucketPath, prefix []byte, limit int, keep func(k []byte) bool, freed *int64) (deleted int, complete bool, err error) {
	var dead [][]byte
	complete = true
	if err := w.Scan(p, prefix, nil, false, func(k, v []byte) error {
		if keep != nil && keep(k) {
			return nil
		}
		if len(dead) >= limit {
			complete = false
			return errStop
		}
		dead = append(dead, bytes.Clone(k))
		*freed += int64(len(k) + len(v))
		return nil
	}); err != nil {
		return 0, false, err
	}
	// bbolt deletes a key by its search, and a key its search cannot
	// find (a damaged page whose keys are out of order) is left with no
	// error: the next scan would yield it again, and a caller deleting
	// until nothing is left would go on for ever.
	for _, k := range dead {
		if !w.Has(p, k) {
			return 0, false, fmt.Errorf("%w: key %x is found by a walk of its bucket but not by a lookup (a damaged page)", ErrCorrupt, k)
		}
	}
	deleted, err = delAll(w, p, dead)
	return deleted, complete, err
}
