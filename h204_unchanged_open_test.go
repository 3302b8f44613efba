package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestH204OpenCloseWritingNothingLeavesFileAsItWas: an Open and a Close
// of an existing store that apply and write nothing (reads, a Flush, a
// GC that selects nothing, a Rekey with nothing to re-seal) must leave
// the file byte-identical, its mtime too, and no log beside it: an
// operator diffs backups and copies what changed, and a command that did
// nothing must not look as if it did. A read-write Open with the log
// committed the log's binding (and the live mark) into the file at once,
// and Close cleared the mark: two bbolt commits, a new transaction id,
// the mark's pages rewritten. Every Options combination is swept: the
// log or NoWAL, each Durability, sealed or plain, read-only. The log is
// now bound only before its first record, or at Open when the file needs
// the binding's repair (internal/engine/bind.go).
func TestH204OpenCloseWritingNothingLeavesFileAsItWas(t *testing.T) {
	ctx := context.Background()
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	key := ckpt.Key{ID: 7}
	for i := range key.Secret {
		key.Secret[i] = byte(i*13 + 5)
	}
	for _, sealed := range []bool{false, true} {
		for _, noWAL := range []bool{false, true} {
			for _, dur := range []ckpt.Durability{ckpt.Sync, ckpt.NoSync, ckpt.Async} {
				for _, ro := range []bool{false, true} {
					name := fmt.Sprintf("sealed=%v/nowal=%v/dur=%d/ro=%v", sealed, noWAL, dur, ro)
					t.Run(name, func(t *testing.T) {
						path := filepath.Join(t.TempDir(), "s.db")
						opts := ckpt.Options{NoWAL: noWAL, Durability: dur}
						if sealed {
							opts.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{key}}
						}
						s, err := ckpt.Open(path, opts)
						if err != nil {
							t.Fatal(err)
						}
						var ids []string
						for j := range 3 {
							id, err := s.Save(ctx, "t1", map[string]any{"n": j, "s": "value"}, nil)
							if err != nil {
								t.Fatal(err)
							}
							ids = append(ids, id)
						}
						if err := s.Close(); err != nil {
							t.Fatal(err)
						}
						before, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						if err := os.Chtimes(path, old, old); err != nil {
							t.Fatal(err)
						}
						opts.ReadOnly = ro
						s, err = ckpt.Open(path, opts)
						if err != nil {
							t.Fatal(err)
						}
						snap, err := s.Latest(ctx, "t1")
						if err != nil || snap.CheckpointID != ids[2] {
							t.Fatalf("Latest: %v, want %s: %v", snap, ids[2], err)
						}
						if !ro {
							if err := s.Flush(ctx); err != nil {
								t.Fatal(err)
							}
							st, err := s.GC(ctx, ckpt.Policy{KeepLast: 100})
							if err != nil || st.Checkpoints != 0 {
								t.Fatalf("GC: %+v %v, want nothing deleted", st, err)
							}
							if sealed {
								rs, err := s.Rekey(ctx)
								if err != nil || rs.Resealed != 0 {
									t.Fatalf("Rekey: %+v %v, want nothing re-sealed", rs, err)
								}
							}
						}
						if err := s.Close(); err != nil {
							t.Fatal(err)
						}
						after, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(before, after) {
							n := 0
							for k := range min(len(before), len(after)) {
								if before[k] != after[k] {
									n++
								}
							}
							t.Errorf("an Open and Close that wrote nothing changed %d bytes of the file (%d bytes before, %d after)", n, len(before), len(after))
						}
						if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(old) {
							t.Errorf("the file's mtime is no longer %v: %v %v", old, st.ModTime(), err)
						}
						if _, err := os.Lstat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
							t.Errorf("a log is left beside the file: %v", err)
						}
						// And the store is as it was: its checkpoints, and a write
						// after such an Open is kept.
						s, err = ckpt.Open(path, ckpt.Options{NoWAL: noWAL, Encryption: opts.Encryption})
						if err != nil {
							t.Fatal(err)
						}
						if _, err := s.Save(ctx, "t1", map[string]any{"n": 9}, nil); err != nil {
							t.Fatal(err)
						}
						if err := s.Close(); err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}
