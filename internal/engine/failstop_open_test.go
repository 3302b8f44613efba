package engine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOpenFaultInBeginGivesBackBboltsLocks: Open reads bbolt (the log's
// position, the format check, the replay) before the store runs. A file
// cut short between bbolt's open and those reads faults inside bbolt's
// Begin, which keeps its meta and map locks: Open fails with ErrCorrupt and
// abandons the handle, whose Close (in the background) then waited forever
// for them, its goroutine and the file's mapping kept until the process
// ended. Open's reads begin through BeginRead, which gives them back:
// bbolt's Close must return.
func TestOpenFaultInBeginGivesBackBboltsLocks(t *testing.T) {
	t.Parallel()
	for _, readOnly := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "cut.db")
		e := openTestEngine(t, path, false)
		if err := do(e, put("k")); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		var opened *bolt.DB
		_, err := Open(path, Options{
			Bolt:     bolt.Options{Timeout: time.Minute, ReadOnly: readOnly},
			LogPath:  path + "-wal",
			Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
			Observer: nopObserver{},
			Hooks: Hooks{OpenedBolt: func(db *bolt.DB) {
				opened = db
				if err := os.Truncate(path, 0); err != nil {
					t.Error(err)
				}
			}},
		})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("readOnly=%v: Open of a file cut short after bbolt opened it = %v, want ErrCorrupt", readOnly, err)
		}
		if opened == nil {
			t.Fatal("the hook did not run")
		}
		closed := make(chan error, 1)
		go func() { closed <- opened.Close() }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("readOnly=%v: bbolt's Close of the handle Open abandoned did not return in 10 s (its Begin's locks are held)", readOnly)
		}
	}
}
