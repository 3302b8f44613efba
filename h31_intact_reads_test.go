package ckpt

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestIntactFilesOfEveryFormatReadWhole: the checks this session added
// to Stats, Threads, Export, Verify and the upgrade (a bucket of an
// unknown name, a record that fails its sum, a name its lookup does not
// find, a branch key other than its child's first key) must not call an
// intact file damaged, in any format a file may still be in: the hunt's
// store and the same store rewritten as formats 2 to 7 (and 7 without its
// directory), opened read-only (no upgrade) and read-write (upgraded).
func TestIntactFilesOfEveryFormatReadWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, fix := range oldFormatFixtures(t, dir) {
		for _, readOnly := range []bool{true, false} {
			p := filepath.Join(t.TempDir(), fix.name+".db")
			if err := os.WriteFile(p, fix.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p, Options{ReadOnly: readOnly})
			if err != nil {
				t.Fatalf("%s (read-only %v): Open: %v", fix.name, readOnly, err)
			}
			if _, err := s.Stats(ctx); err != nil {
				t.Errorf("%s (read-only %v): Stats: %v", fix.name, readOnly, err)
			}
			n := 0
			for _, err := range s.Threads(ctx) {
				if err != nil {
					t.Errorf("%s (read-only %v): Threads: %v", fix.name, readOnly, err)
					break
				}
				n++
			}
			if n == 0 {
				t.Errorf("%s (read-only %v): Threads listed none", fix.name, readOnly)
			}
			if _, err := s.Export(ctx, io.Discard, ExportOptions{}); err != nil {
				t.Errorf("%s (read-only %v): Export: %v", fix.name, readOnly, err)
			}
			rep, err := s.Verify(ctx, VerifyOptions{})
			if err != nil || !rep.OK() {
				t.Errorf("%s (read-only %v): Verify: %v %v", fix.name, readOnly, err, rep)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
