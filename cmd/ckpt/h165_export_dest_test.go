package main

import (
	"path/filepath"
	"testing"
)

// 'ckpt export -o' into a directory that does not exist named the hidden
// temporary file it meant to write beside the dump ("open
// /nowhere/.x.jsonl.ckpt-export-123.tmp: no such file or directory"), a
// file the operator never gave; it says which directory is missing, as
// 'ckpt backup' does.
func TestH165ExportIntoAMissingDirectorySaysSo(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	out := filepath.Join(dir, "nowhere", "x.jsonl")
	r := runIn(t, dir, "", "export", db, "-o", out)
	failsWith(t, r, 1, "ckpt: export to "+out+": no directory "+filepath.Dir(out)+"\n")
	if names := dirNames(t, dir); len(names) != 1 {
		t.Fatalf("left files: %v", names)
	}
}
