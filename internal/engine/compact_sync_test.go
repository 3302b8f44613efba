package engine

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestCommitsAfterCompactAreFsynced: Compact writes its new file with
// bbolt's NoSync (one fsync at its end) and hands that handle to the
// store. Every later bbolt commit (the applier's; NoWAL's Sync groups)
// must fsync again: the log is cut back once bbolt holds a group, so an
// unsynced commit loses acknowledged writes to a power cut, or leaves a
// meta page naming pages never written. The commits after a Compact went
// out with NoSync set (found by powerfs, helper-198).
func TestCommitsAfterCompactAreFsynced(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		name := "WAL"
		if noWAL {
			name = "NoWAL"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "e.db")
			var mu sync.Mutex
			var commits, unsynced int
			e, err := Open(path, Options{
				Bolt:     bolt.Options{Timeout: time.Minute},
				LogPath:  path + "-wal",
				NoWAL:    noWAL,
				Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
				Observer: nopObserver{},
				Hooks: Hooks{CommitBolt: func(tx *bolt.Tx) error {
					mu.Lock()
					commits++
					if tx.DB().NoSync {
						unsynced++
					}
					mu.Unlock()
					return tx.Commit()
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if err := do(e, put("before")); err != nil {
				t.Fatal(err)
			}
			if err := do(e, &Op{Solo: func() error {
				_, err := e.Compact(context.Background(), nil)
				return err
			}}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			commits, unsynced = 0, 0
			mu.Unlock()
			for i := range 3 {
				if err := do(e, put("after"+string(rune('a'+i)))); err != nil {
					t.Fatal(err)
				}
			}
			applyLog(t, e)
			mu.Lock()
			defer mu.Unlock()
			if commits == 0 {
				t.Fatal("setup: no bbolt commit after the Compact")
			}
			if unsynced > 0 {
				t.Errorf("%d of %d bbolt commits after a Compact were not fsync'd (NoSync set)", unsynced, commits)
			}
		})
	}
}
