package engine

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// checkForwardSeek checks the key k a forward seek for from landed on,
// the cursor c on it, and leaves c there. In a sound tree k is the least
// key at or above from; a damaged branch key misleads the seek (bbolt
// keeps no checksum of a branch page, and a read-only handle reads
// through one a read-write Open's page check would refuse). Raised, it
// sends the seek into the child before, which holds nothing at or above
// from, and the cursor steps on to the next child's first key, below
// from: a scan of a prefix ended there when that key was not under it,
// and ResolveID found no checkpoint of a namespace that has them.
// Lowered, it sends the seek into the child after, past the keys at or
// above from that the child before holds, with nothing out of order to
// see: k's predecessor tells (the reverse scan's check of k's successor
// mirrored).
func checkForwardSeek(c *bolt.Cursor, from, k []byte) error {
	if bytes.Compare(k, from) < 0 {
		return fmt.Errorf("%w: a seek landed below its key in a bucket (a damaged branch page)", ErrCorrupt)
	}
	pk, _ := c.Prev()
	if pk == nil {
		// k is the first key, and Prev left the cursor on it; or Prev met
		// an empty leaf (a write transaction's node after its Deletes),
		// and left the cursor there, where the next step would yield k
		// again. Seeking again puts it back on k either way.
		c.Seek(from)
		return nil
	}
	if bytes.Compare(pk, from) >= 0 {
		return fmt.Errorf("%w: a seek landed past its key in a bucket (a damaged branch page)", ErrCorrupt)
	}
	c.Next()
	return nil
}

// The errors of a walk that meets a key out of order (Scan, Buckets).
var (
	errNamesOutOfOrder = fmt.Errorf("%w: bucket names out of order (a damaged page)", ErrCorrupt)
	errKeysOutOfOrder  = fmt.Errorf("%w: keys out of order in a bucket (a damaged page)", ErrCorrupt)
)

// checkScanEnd checks the key k a prefix scan ended at (nil: the bucket's
// end), its cursor c in b on it. Outside the prefix, it is the first key
// past it: in a sound page every key after it is outside too. One a
// damaged byte raised above the prefix (lowered below it, walking back)
// ended the scan early, and the prefix's keys beyond it were passed over
// with no error (GC's walk of the checkpoints that keep a namespace's
// values read short: TestGCSweepKeepsValuesPastARaisedKey). The key after
// it tells: one step more per scan that ends this way.
func checkScanEnd(c *bolt.Cursor, b *bolt.Bucket, k, prefix []byte, reverse bool) error {
	if k == nil || bytes.HasPrefix(k, prefix) {
		return nil
	}
	if nk, _ := step(c, b, k, reverse); nk != nil && (!reverse && bytes.Compare(nk, k) <= 0 || reverse && bytes.Compare(nk, k) >= 0) {
		return errKeysOutOfOrder
	}
	return nil
}

// outOfPlace reports whether key k, which a scan's cursor stepped to, is
// out of its bounds: before from (forward) or at or past below (backward).
// Only a damaged page holds one; a key out of order with the key before it
// is the scan's other check (scanIn: each key against the next). One moved
// past its neighbours by a damaged byte lies out of place in its page, and
// a walk that wrote what it read (CopyThread) had bbolt sort it into place
// in the copy: the damage was gone and the copy's history read short, with
// no error. An equal key is out of order too: a bucket's keys are unique,
// and a damaged key position in a leaf element that points it at its
// neighbour's key holds that record twice and its own not at all, every
// sum valid (Export dumped the one twice and Thread counted the thread
// whole). No scan's callback writes into the bucket it walks (each
// collects, then writes), which is what could step a cursor onto a key
// again.
func outOfPlace(k, from, below []byte, reverse bool) bool {
	return !reverse && bytes.Compare(k, from) < 0 || below != nil && bytes.Compare(k, below) >= 0
}

// step moves a scan's cursor c in b on from the key at, forward or back.
func step(c *bolt.Cursor, b *bolt.Bucket, at []byte, reverse bool) ([]byte, []byte) {
	if reverse {
		return back(c, b, at)
	}
	return c.Next()
}

// back is c.Prev, c on the key at in b (nil: past the last key). In a
// write transaction (NoWAL's ops, GC's steps) a Delete may have emptied a
// leaf's node, which stays in the tree until the commit, and bbolt's Prev
// onto one returns nil as at the bucket's start (Next and Last step over
// one, Prev does not): a reverse scan ended there, short and with no
// error (headID found no head once a GC in the same transaction had
// dropped the leaves after it; TestH180ReverseScanOverEmptiedLeaves). A
// nil when at is not the bucket's first key is such a node: each Prev
// more leaves one behind, at most one per page of the file (a damaged
// tree cannot make it loop).
func back(c *bolt.Cursor, b *bolt.Bucket, at []byte) ([]byte, []byte) {
	k, v := c.Prev()
	if k != nil || at == nil || !b.Writable() {
		return k, v
	}
	if first, _ := b.Cursor().First(); bytes.Equal(first, at) {
		return nil, nil // the start
	}
	tx := b.Tx()
	for n := tx.Size() / int64(tx.DB().Info().PageSize); k == nil && n > 0; n-- {
		k, v = c.Prev()
	}
	return k, v
}
