package engine

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A record's crc, the next record's seed, covers its body and padding
// continued from its own seed, not its header (gen, lag): two records with
// the same body and the same seed have the same crc. Every pass over the
// file chains its first record from the header's crc, so a new pass whose
// first record has the same body as the earlier pass's first (the same
// write again: a Put of the same key and value) ends where that one ended
// with the same crc, and the earlier pass's second record, left after it,
// chains from it as if it were the next record of this pass. The scan reads
// it as "group 2 follows group 3", a whole chained record out of order,
// and refuses the log (ErrCorrupt) although nothing is wrong with it: a
// process killed after one Sync write of a new pass (no power cut, no
// damage) leaves it, and Open refuses it, read-write and read-only.
//
// Sequence: Sync Put k=v (group 1, the first pass's first record), Sync
// Delete k (group 2); the applier takes both; Sync Put k=v (group 3): the
// log rewinds, clears group 1's header, writes group 3 at offset 24, its
// body byte for byte group 1's. Crash copy (kill: the page cache's bytes).
func TestH34Rev2SameBodyAfterRewindIsReadAsDamage(t *testing.T) {
	t.Parallel()
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("readOnly=%v", readOnly), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "s.db")
			e, opts := vouchOpen(t, path, Hooks{})
			defer e.Close()
			putV := &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("k"), []byte("v")) }}
			if err := do(e, putV); err != nil {
				t.Fatal(err)
			}
			if err := do(e, &Op{Apply: func(w Writer) error { return w.Del(testBucket, []byte("k")) }}); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); e.Applied() < 2; {
				if time.Now().After(deadline) {
					t.Fatalf("the applier holds groups up to %d, want 2", e.Applied())
				}
				time.Sleep(time.Millisecond)
			}
			// The same write again: the first record of a new pass.
			if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("k"), []byte("v")) }}); err != nil {
				t.Fatal(err)
			}
			recs := logRecords(t, path+"-wal")
			t.Logf("the log's chain: %s", recsString(recs))
			if len(recs) == 0 || recs[0].gen != 3 {
				t.Fatalf("log records %s, want the new pass's group 3 first (no rewind?)", recsString(recs))
			}
			cp := crashCopyFiles(t, path, filepath.Join(dir, "img"), nil)
			o := opts
			o.LogPath, o.Hooks = cp+"-wal", Hooks{}
			o.Bolt.ReadOnly = readOnly
			d, err := Open(cp, o)
			if err != nil {
				t.Fatalf("Open of a killed process's files (no power cut, no damage): %v", err)
			}
			defer d.Close()
			if got := readKey(t, d, "k"); got != "v" {
				t.Fatalf("k = %q, want v (a Sync write acknowledged)", got)
			}
		})
	}
}
