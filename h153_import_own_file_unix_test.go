//go:build unix

package ckpt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// Two ImportFiles into the same missing path both pass the leftover
// check before either creates path.import, so both opened it (O_CREATE,
// no O_EXCL): A won bbolt's lock and built; B waited on the lock (50 ms
// polls) and took it in the moment between A's Close and A's HoldBuilt,
// then imported its own dump on top of A's finished file and returned nil
// with A's threads in it (helper-153's review of h148). An ImportFile
// builds only in a file it created: the other fails with ErrLocked, and
// whichever returns nil finds exactly its dump at the path.
func TestImportFileIntoTheSameNewPathBuildsInItsOwnFile(t *testing.T) {
	ctx := context.Background()
	dumpA, dumpB := h148Dump(t, ckpt.Options{}, "a"), h148Dump(t, ckpt.Options{}, "b")
	path := filepath.Join(t.TempDir(), "new.db")
	tmp := path + ".import"

	bAtOpen, bGoOpen := make(chan struct{}), make(chan struct{})
	bImporting, bRelease := make(chan struct{}), make(chan struct{})
	var errB error
	doneB := make(chan struct{})
	var onceB, onceCommit sync.Once
	optsB := ckpt.WithFaultPoints(ckpt.Options{LockTimeout: 20 * time.Second, Bolt: &bolt.Options{
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if name == tmp {
				onceB.Do(func() { close(bAtOpen); <-bGoOpen })
			}
			return os.OpenFile(name, flag, perm)
		}}}, 0, func(point string) error {
		if point == "commit" {
			onceCommit.Do(func() { close(bImporting); <-bRelease })
		}
		return nil
	})
	var onceA sync.Once
	optsA := ckpt.Options{Bolt: &bolt.Options{
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if name == tmp {
				onceA.Do(func() {
					go func() {
						defer close(doneB)
						_, errB = ckpt.ImportFile(ctx, path, bytes.NewReader(dumpB), optsB, ckpt.ImportOptions{})
					}()
					<-bAtOpen // B passed its leftover check: no path.import yet
				})
			}
			return os.OpenFile(name, flag, perm)
		}}}
	optsA = ckpt.WithImportBeforeLink(optsA, func() {
		close(bGoOpen) // B's lock poll lands here
		select {
		case <-bImporting:
		case <-doneB:
		}
	})
	_, errA := ckpt.ImportFile(ctx, path, bytes.NewReader(dumpA), optsA, ckpt.ImportOptions{})
	close(bRelease)
	<-doneB
	t.Logf("A: %v; B: %v", errA, errB)
	got, err := h148Holds(ctx, path, ckpt.Options{})
	t.Logf("path holds %v (%v)", got, err)
	switch {
	case errA == nil && (len(got) != 1 || got["a"] != "value of a"):
		t.Errorf("A returned nil, path holds %v", got)
	case errB == nil && (len(got) != 1 || got["b"] != "value of b"):
		t.Errorf("B returned nil, path holds %v", got)
	}
}
