//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// The write commands on the file of a running service (Sync writers, then
// Async): gc, compact, rm, cp, backup, recover and rekey (TestHeldFile has
// demo and import, TestH243ReadCommandsOnALiveStore the read commands).
// Each says the file is held, in one line, within --lock-timeout, prints
// nothing, exits 1, leaves no file behind (no backup, no compaction's new
// file) and changes nothing: once the service closes the store every
// write it acknowledged is there, the threads rm and cp were told of are
// as the service left them, and the file verifies.
func TestH246WriteCommandsOnALiveStore(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keys := t.TempDir() // off dir, whose names are checked
			db := filepath.Join(dir, "live.db")
			newKey, oldKey := filepath.Join(keys, "new.key"), filepath.Join(keys, "old.key")
			for i, p := range []string{newKey, oldKey} {
				if err := os.WriteFile(p, fmt.Appendf(nil, "%d %s\n", 2-i, strings.Repeat(fmt.Sprintf("%02x", 7+i), 32)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w := startLiveWriter(t, db, mode)
			w.waitFor(t, 0)
			bak := filepath.Join(t.TempDir(), "bak.db")
			for _, args := range [][]string{
				{"gc", db, "--keep-last", "1"}, {"gc", db, "--keep-last", "1", "--dry-run"}, {"compact", db},
				{"rm", db, "w0", "--yes"}, {"cp", db, "w1", "copy"}, {"cp", db, "w1", "w2", "--replace"},
				{"backup", db, bak}, {"recover", db},
				{"rekey", db, "--key-file", newKey, "--key-file", oldKey},
			} {
				r := runIn(t, dir, "", append(args, "--lock-timeout", "200ms")...)
				failsWith(t, r, 1, db+" is held by another process (a program has the store open); stop that program or wait for it to close the store, then retry (gave up after 200ms")
				if r.stdout != "" {
					t.Errorf("ckpt %v printed on stdout:\n%s", args, r)
				}
				if names := dirNames(t, dir); !slices.Equal(names, []string{"live.db", "live.db-wal"}) {
					t.Errorf("ckpt %v left files: %v", args, names)
				}
				if _, err := os.Lstat(bak); !os.IsNotExist(err) {
					t.Errorf("ckpt %v: a backup of a held file: %v", args, err)
				}
			}
			w.waitFor(t, w.count()) // the service wrote on meanwhile
			s := w.stopAndReopen(t, dir, db)
			ctx := context.Background()
			for th, ids := range w.acks {
				var got []string
				for sn, err := range s.History(ctx, th, ckpt.ListOptions{}) {
					if err != nil {
						t.Fatalf("thread %s: %v", th, err)
					}
					got = append(got, sn.CheckpointID)
				}
				// Nothing removed (gc, rm), nothing copied over (cp).
				for _, id := range ids {
					if !slices.Contains(got, id) {
						t.Fatalf("thread %s: the acknowledged checkpoint %s is not in its history (%d checkpoints)", th, id, len(got))
					}
				}
				if len(got) < len(ids) {
					t.Fatalf("thread %s: %d checkpoints, %d acknowledged", th, len(got), len(ids))
				}
			}
			if _, err := s.Latest(ctx, "copy"); err == nil {
				t.Error("cp on a held file made its copy")
			}
			if keys, err := s.SealedKeys(ctx); err != nil || len(keys) != 0 {
				t.Errorf("rekey on a held file: the store is sealed under %v (%v)", keys, err)
			}
		})
	}
}
