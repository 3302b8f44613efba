package engine

// Replay: logged groups into bbolt (the applier, Open's recovery of a
// read-write store, Backup's copy, recover) and into an overlay (a
// read-only Open, which must not write the file).

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Mark names the key where bbolt records the last group of the log it
// holds, written in the same commit as the groups: what is past it in the
// log is replayed on Open. Where it lives is the root package's bucket
// layout's business.
type Mark struct {
	Path Path
	Key  []byte
}

// Applied reads the last applied group from r (0: none).
func (m Mark) Applied(r Reader) uint64 { return decodeMark(r.Get(m.Path, m.Key)) }

// appliedTx reads the mark straight from tx: every read checks it when it
// begins (Snapshots.Begin), and a BoltView for one key would cost the
// read another allocation of the view's caches.
func (m Mark) appliedTx(tx *bolt.Tx) uint64 {
	if len(m.Path) == 0 {
		return 0
	}
	b := tx.Bucket(m.Path[0])
	for _, name := range m.Path[1:] {
		if b == nil {
			return 0
		}
		b = b.Bucket(name)
	}
	if b == nil {
		return 0
	}
	return decodeMark(b.Get(m.Key))
}

func decodeMark(v []byte) uint64 {
	if len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Replay applies groups in order through w and records the last as
// applied.
func (m Mark) Replay(w Writer, groups []*Group) error {
	for _, g := range groups {
		for i := range g.Muts {
			if err := ReplayMut(&g.Muts[i], w); err != nil {
				if errors.Is(err, berrors.ErrIncompatibleValue) {
					// The group was made against this file's layout, which
					// never puts a value and a bucket under one key: a
					// value where it finds its bucket (or the reverse) is
					// a damaged page (a flipped element flag).
					return fmt.Errorf("%w: group %d: %w", ErrCorrupt, g.Gen, err)
				}
				return fmt.Errorf("group %d: %w", g.Gen, err)
			}
		}
	}
	return w.Put(m.Path, m.Key, binary.BigEndian.AppendUint64(nil, groups[len(groups)-1].Gen))
}

// ReplayMut applies one logged change through w.
func ReplayMut(m *Mutation, w Writer) error {
	switch m.Op {
	case MutPut:
		return w.Put(m.Path, m.Key, m.Val)
	case MutDel:
		return w.Del(m.Path, m.Key)
	case MutDrop:
		return w.DropBucket(m.Path)
	case MutSeq:
		return w.RaiseSeq(m.Path, m.Seq)
	}
	return fmt.Errorf("%w: write-ahead log: unknown change %d", ErrCorrupt, m.Op)
}
