package ckpt

import (
	"context"
	"path/filepath"
	"testing"
)

// TestKeyedCopyThreadSealsThePlainRecordsItCopies: a keyed handle on a
// store written before encryption was turned on seals what it writes, and
// CopyThread re-seals the sealed records it copies for the new thread; but
// it copied the plain records plain, writing new plaintext into the file.
// Beside a Rekey that had already listed the threads, that plaintext
// stayed after Rekey returned nil, which promises every record sealed
// under the newest key. The copy must hold nothing a Rekey would still
// seal, and read back whole.
func TestKeyedCopyThreadSealsThePlainRecordsItCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s := openKeys(t, path)
	ids := writeCryptThread(t, s, "plain", 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openKeys(t, path, testKey(1, 1))
	defer s.Close()
	if err := s.CopyThread(ctx, "plain", "copy", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCryptThread(t, s, "copy", ids)
	unsealed := plainRecords(t, s, "copy")
	if unsealed > 0 {
		t.Fatalf("the keyed handle's copy holds %d plain records (values, list segments, pending writes)", unsealed)
	}
}

// plainRecords counts the records of thread that hold user data (values,
// list segments, pending writes) and are not sealed under s's newest key:
// those a Rekey would still seal.
func plainRecords(t *testing.T, s *Store, thread string) int {
	t.Helper()
	th := threadOf(thread)
	n := 0
	err := s.view(context.Background(), func(r reader) error {
		for _, sub := range resealedSubBuckets {
			err := r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
				_, changed, err := reseal(s.keys, sub, th, th, k, v, false)
				if err != nil {
					return err
				}
				if changed {
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
