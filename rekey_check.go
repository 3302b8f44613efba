package ckpt

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// CheckRekey tells, without writing, whether Rekey with this handle's keys
// can open the records it would re-seal: for each key id the store's
// values, list segments and pending writes are sealed under other than
// the newest key, it opens the first record sealed under it, as Rekey
// does. A key not given, or one that does not open the record, is a
// *KeyError (ErrKey); nil means every such key opened one (a record that
// does not open for another reason, damage, is Rekey's to report). It
// works on a read-only handle: a program (the ckpt command) checks the
// keys before opening the store for writing, which writes to the file, so
// that a rekey refused for a wrong key leaves it byte-identical. Its cost
// is a walk of the records until every key id was met, the whole store at
// worst, reading no more than Rekey does.
func (s *Store) CheckRekey(ctx context.Context) error {
	if s.keys == nil {
		return fmt.Errorf("%w: CheckRekey needs Options.Encryption", ErrInvalidConfig)
	}
	return s.view(ctx, func(r reader) error {
		ids, err := sealedKeysIn(ctx, r)
		if err != nil {
			return err
		}
		// The ids Rekey opens records of: not the newest key's, whose
		// records it leaves as they are.
		left := slices.DeleteFunc(ids, func(id uint32) bool { return id == s.keys.sealID })
		if len(left) == 0 {
			return nil
		}
		var found error
		err = r.Buckets(threadsRoot, nil, func(name []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			thread := string(name)
			th := threadOf(thread)
			for _, sub := range resealedSubBuckets {
				err := r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
					id, sealed, err := sealedKeyOf(th.seed, sub, k, v)
					if err != nil || !sealed || !slices.Contains(left, id) {
						return nil // damage is Rekey's to report, where it meets it
					}
					left = slices.DeleteFunc(left, func(l uint32) bool { return l == id })
					if _, _, err := reseal(s.keys, sub, th, th, k, v, false); errors.Is(err, ErrKey) {
						found = fmt.Errorf("thread %q: %w", thread, err)
						return errStop
					}
					if len(left) == 0 {
						return errStop
					}
					return nil
				})
				if err != nil {
					return err
				}
				if found != nil || len(left) == 0 {
					return errStop // a scan's stop ends only the scan
				}
			}
			return nil
		})
		if found != nil {
			return found
		}
		return err
	})
}
