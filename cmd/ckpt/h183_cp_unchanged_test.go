package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// ckpt cp of a thread the file lacks, or onto a thread it has without
// --replace, exits 1 naming the thread; it opened the file for writing
// first (which writes its meta pages and the log's binding) and only then
// found the mistake, so the file's bytes changed though nothing was
// copied. As rm does, cp looks read-only first: the file stays
// byte-identical, and no log is left beside it.
func TestH183CpMistakeLeavesFileUnchanged(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing source", []string{"cp", "demo.db", "nope", "x"}, `demo.db has no thread "nope"`},
		{"existing destination", []string{"cp", "demo.db", "demo", "demo2"}, `demo.db already has a thread "demo2" (--replace overwrites it)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, db := demoFixture(t)
			if c.name == "existing destination" {
				if r := runIn(t, dir, "", "cp", "demo.db", "demo", "demo2"); r.code != 0 {
					t.Fatal(r)
				}
			}
			before, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			r := runIn(t, dir, "", c.args...)
			failsWith(t, r, 1, c.want)
			after, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("%s changed the file's bytes", r.args)
			}
			if _, err := os.Stat(filepath.Join(dir, "demo.db-wal")); err == nil {
				t.Errorf("%s left a log beside the file", r.args)
			}
		})
	}
}
