package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// importSource returns a dump of n threads with list channels, forks and
// pending writes.
func importSource(t *testing.T, n int) []byte {
	t.Helper()
	src := newInspectStore(t)
	fillForExport(t, src)
	for i := range n {
		putChain(t, src, fmt.Sprintf("imported-%03d", i), "", 3)
	}
	return export(t, src)
}

// existingStore creates a store file with threads of its own and returns
// its path and state.
func existingStore(t *testing.T) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "existing.ckpt")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	putChain(t, s, "keep", "", 4)
	putChain(t, s, "keep-too", "ns", 2)
	st := storeState(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, st
}

// checkFileUnchanged reopens the file at path and checks that it holds
// exactly the state want, that Verify is clean, and that bbolt's own page
// check finds every page reachable or free exactly once (no leaked pages).
func checkFileUnchanged(t *testing.T, path string, want []string) {
	t.Helper()
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	if got := storeState(t, s); !slices.Equal(got, want) {
		t.Fatalf("the file changed: %d checkpoints, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkPagesClean(t, path)
}

// checkPagesClean runs bbolt's consistency check on a closed file.
func checkPagesClean(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt page check: %v", err)
	}
}

// TestImportOfMalformedDumpLeavesFileAsItWas puts a malformed line at a
// random place of a dump, 20 times: the import fails and the existing file
// is exactly as it was, Verify clean, no page leaked.
func TestImportOfMalformedDumpLeavesFileAsItWas(t *testing.T) {
	defer func(n int) { importBatchRecords = n }(importBatchRecords)
	importBatchRecords = 16 // many batches committed before the bad line
	dump := importSource(t, 30)
	lines := strings.SplitAfter(string(dump), "\n")
	rng := rand.New(rand.NewPCG(14, 4))
	for run := range 20 {
		path, want := existingStore(t)
		at := 1 + rng.IntN(len(lines)-2)
		bad := strings.Join(lines[:at], "") + "{\"kind\":\"value\",oops\n" + strings.Join(lines[at:], "")
		s, err := Open(path, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(context.Background(), strings.NewReader(bad), ImportOptions{}); !errors.Is(err, ErrDump) {
			t.Fatalf("run %d: import of a malformed dump = %v", run, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkFileUnchanged(t, path, want)
	}
}

var _ = bytes.Equal
var _ = os.Remove
