//go:build unix

package ckpt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A second ImportFile into the same missing path starts while the first
// has closed its new file and not yet linked it into place: the second
// removes the first's file as a leftover and builds its own there. The
// first must not link the second's half-written file into place and
// report success: whichever import returns nil, the path holds exactly
// its dump.
func TestImportFileRaceWithASecondImport(t *testing.T) {
	ctx := context.Background()
	dumpA, dumpB := h148Dump(t, ckpt.Options{}, "a"), h148Dump(t, ckpt.Options{}, "b")
	path := filepath.Join(t.TempDir(), "new.db")

	blocked, release := make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	optsB := ckpt.WithFaultPoints(ckpt.Options{}, 0, func(point string) error {
		if point == "commit" && armed.CompareAndSwap(true, false) {
			close(blocked) // B holds its new file, not yet closed
			<-release
		}
		return nil
	})
	var errB error
	doneB := make(chan struct{})
	optsA := ckpt.WithImportBeforeLink(ckpt.Options{}, func() {
		go func() {
			defer close(doneB)
			_, errB = ckpt.ImportFile(ctx, path, bytes.NewReader(dumpB), optsB, ckpt.ImportOptions{})
		}()
		select {
		case <-blocked:
		case <-doneB:
		}
	})
	_, errA := ckpt.ImportFile(ctx, path, bytes.NewReader(dumpA), optsA, ckpt.ImportOptions{})
	if !armed.CompareAndSwap(true, false) {
		close(release)
	}
	<-doneB
	t.Logf("first import: %v; second import: %v", errA, errB)
	if _, err := os.Stat(path); errA != nil && errB != nil {
		if err == nil {
			t.Fatalf("both imports failed, but %s is there", path)
		}
		return
	}
	got, err := h148Holds(ctx, path, ckpt.Options{})
	switch {
	case errA == nil && errB == nil:
		t.Fatalf("both imports into %s returned nil", path)
	case errA == nil && (err != nil || len(got) != 1 || got["a"] != "value of a"):
		t.Fatalf("the first import returned nil, but the path holds %v (%v), not its dump's thread a", got, err)
	case errB == nil && (err != nil || len(got) != 1 || got["b"] != "value of b"):
		t.Fatalf("the second import returned nil, but the path holds %v (%v), not its dump's thread b", got, err)
	}
}
