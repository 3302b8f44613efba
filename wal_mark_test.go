package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestLogPastAHigherMarkIsCorrupt: bbolt's mark (the last group it holds)
// decides which logged groups Open replays, and it carries no checksum of
// its own. Raised by damage (a flipped byte of its value) over a log that
// holds groups not yet applied, it made Open skip them: acknowledged
// writes gone without a word. The mark can never legitimately pass the
// log's last valid record (bbolt takes a group only once it is logged,
// and the log is emptied or rewound only when bbolt holds all of it), so
// a log whose records end below the mark is corruption, as a log that
// starts past it already is (and RecoverLog moves the log aside). Each
// byte of the mark flipped in turn, with bits that raise it.
func TestLogPastAHigherMarkIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := appliedStore(t, 2)
	s := openUnapplied(t, path)
	ids := saveN(t, s, "t", 2, 3)
	cp := crashCopy(t, s)
	var mark uint64
	db, err := bolt.Open(cp, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		mark = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyWALApplied))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		bit := uint64(1) << (8*(7-i) + 4) // bit 4 of byte i (big-endian)
		if mark&bit != 0 {
			continue // flipping it would lower the mark: the log then starts past it (ErrCorrupt already)
		}
		c := copyStore(t, cp)
		db, err := bolt.Open(c, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, mark|bit))
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s2, err := Open(c, Options{})
		if err == nil {
			var missing int
			for _, id := range ids {
				if _, err := s2.Load(ctx, "t", id); err != nil {
					missing++
				}
			}
			_ = s2.Close()
			t.Errorf("mark %d raised to %d (byte %d): Open = nil with %d of %d acknowledged checkpoints missing; want ErrCorrupt", mark, mark|bit, i, missing, len(ids))
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("mark raised (byte %d): Open = %v, want ErrCorrupt", i, err)
			continue
		}
		// The way out stays explicit: recover moves the log aside and
		// says so; the store then opens. A mark past any group a log can
		// number (bytes 0 and 1) recover puts back where the binding says
		// it was: the log is whole then, and Open replays all of it.
		st, err := RecoverLog(c, Options{})
		if past := i < 2; err != nil || (past && !st.MarkRepaired) || (!past && (!st.Damaged || st.MovedTo == "")) {
			t.Errorf("mark raised (byte %d): RecoverLog = %+v, %v; want the log moved aside, or the mark put back", i, st, err)
			continue
		}
		s2, err = Open(c, Options{})
		if err != nil {
			t.Errorf("mark raised (byte %d): Open after RecoverLog: %v", i, err)
			continue
		}
		if st.MarkRepaired {
			checkLoads(t, s2, "t", ids)
		}
		_ = s2.Close()
	}
}

// TestMarkRaisedWithinTheLogIsCorrupt: the mark raised by a flipped low
// bit to a group the log still holds past it (not past the log's last
// record, which TestLogPastAHigherMarkIsCorrupt covers): Open skipped the
// groups between the true mark and the raised one, and replayed the later
// ones over a file without them: acknowledged checkpoints gone, and later
// ones built on them. The mark is written with the log's binding
// (meta/wal-log: the log's identity and the mark's group) in every commit
// that moves it, so a mark that disagrees with the binding of the log at
// the path is damage: a read-write Open refuses it, and a read-only one
// reads the log from the group the binding names.
func TestMarkRaisedWithinTheLogIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := appliedStore(t, 4)
	s := openUnapplied(t, path)
	ids := saveN(t, s, "t", 4, 6)
	cp := crashCopy(t, s)
	var mark uint64
	editClosedFile(t, copyStore(t, cp), func(tx *bolt.Tx) error {
		mark = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyWALApplied))
		return nil
	})
	tried := 0
	for bit := range 3 {
		raised := mark ^ 1<<bit
		if raised <= mark || raised > mark+uint64(len(ids)) {
			continue
		}
		tried++
		c := copyStore(t, cp)
		editClosedFile(t, c, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, raised))
		})
		for _, ro := range []bool{true, false} {
			s2, err := Open(c, Options{ReadOnly: ro})
			if err == nil {
				var missing []int
				for i, id := range ids {
					if _, err := s2.Load(ctx, "t", id); err != nil {
						missing = append(missing, i)
					}
				}
				_ = s2.Close()
				if ro && len(missing) == 0 {
					// Read-only, the log is read from the binding's group,
					// as recovery will leave the store (h143_ro_mark_test.go).
					continue
				}
				t.Errorf("read-only %v: mark %d raised to %d: Open = nil with logged checkpoints %v of %d missing; want ErrCorrupt", ro, mark, raised, missing, len(ids))
				continue
			}
			if ro || !errors.Is(err, ErrCorrupt) {
				t.Errorf("read-only %v: mark raised to %d: Open = %v, want ErrCorrupt read-write, every checkpoint read-only", ro, raised, err)
			} else if strings.Contains(err.Error(), "move the log aside") {
				t.Errorf("mark raised to %d: Open's error says recovery moves the log aside, which it does not: %v", raised, err)
			}
		}
		// The way out replays the log from the group the binding names:
		// nothing acknowledged is lost.
		if st, err := RecoverLog(c, Options{}); err != nil || !st.Damaged || st.KeptGroups == 0 {
			t.Errorf("mark raised to %d: RecoverLog = %+v, %v; want the log replayed from the binding's group", raised, st, err)
			continue
		}
		s2, err := Open(c, Options{})
		if err != nil {
			t.Errorf("mark raised to %d: Open after RecoverLog: %v", raised, err)
			continue
		}
		checkLoads(t, s2, "t", ids)
		if rep, err := s2.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("mark raised to %d: Verify after RecoverLog: %+v, %v", raised, rep, err)
		}
		_ = s2.Close()
	}
	if tried == 0 {
		t.Fatalf("mark %d: no low bit raises it within the log", mark)
	}
}

// appliedStore writes n checkpoints of thread "t" into a new store and
// closes it (the log applied: bbolt's mark is set); it returns its path.
func appliedStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "t", 0, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
