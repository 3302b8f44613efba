package engine

import bolt "go.etcd.io/bbolt"

// HasDamaged reports whether tx is a read of a read-only handle whose
// page check (refuseCycles, precheck_damaged.go) kept the file though
// some of its buckets' pages lead into a cycle: a read that opens one of
// those gets ErrCorrupt naming it, every other bucket reads as in a sound
// file. Verify then goes on past the file's page check, thread by thread,
// so that the damaged buckets' threads are named and the others checked.
func HasDamaged(tx *bolt.Tx) bool {
	if tx == nil || damagedCount.Load() == 0 {
		return false
	}
	_, ok := damagedDBs.Load(tx.DB())
	return ok
}
