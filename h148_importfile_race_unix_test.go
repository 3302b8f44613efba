//go:build unix

package ckpt_test

import (
	"bytes"
	"context"
	"errors"
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

// Another process opens the new path (a store created there) or the new
// file beside it while ImportFile runs: the import fails (ErrExists;
// ErrLocked) and leaves what the other made alone, and a later
// ImportFile into a free path works.
func TestImportFileWithTheFilesOpenedMeanwhile(t *testing.T) {
	ctx := context.Background()
	dumpA := h148Dump(t, ckpt.Options{}, "a")
	for _, which := range []string{"path", "new file"} {
		path := filepath.Join(t.TempDir(), "new.db")
		var other *ckpt.Store
		opts := ckpt.WithImportBeforeLink(ckpt.Options{}, func() {
			var err error
			if which == "path" {
				other, err = ckpt.Open(path, ckpt.Options{})
				if err == nil {
					_, err = other.Save(ctx, "mine", map[string]any{"v": "mine"}, nil)
				}
			} else {
				other, err = ckpt.Open(path+".import", ckpt.Options{ReadOnly: true})
			}
			if err != nil {
				t.Error(err)
			}
		})
		_, err := ckpt.ImportFile(ctx, path, bytes.NewReader(dumpA), opts, ckpt.ImportOptions{})
		want := ckpt.ErrExists
		if which == "new file" {
			want = ckpt.ErrLocked
		}
		if !errors.Is(err, want) {
			t.Errorf("%s opened meanwhile: ImportFile: %v, want %v", which, err, want)
		}
		if other != nil {
			if err := other.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if which == "path" {
			if got, err := h148Holds(ctx, path, ckpt.Options{}); err != nil || len(got) != 1 || got["mine"] != "mine" {
				t.Errorf("the store created at the path meanwhile: %v %v", got, err)
			}
		} else if _, err := os.Stat(path); err == nil {
			t.Errorf("ImportFile failed, and %s is there", path)
		}
		_ = os.Remove(path)
		if _, err := ckpt.ImportFile(ctx, path, bytes.NewReader(dumpA), ckpt.Options{}, ckpt.ImportOptions{}); err != nil {
			t.Fatalf("%s: ImportFile again: %v", which, err)
		}
		if got, err := h148Holds(ctx, path, ckpt.Options{}); err != nil || len(got) != 1 || got["a"] != "value of a" {
			t.Fatalf("%s: after ImportFile again: %v %v", which, got, err)
		}
	}
}
