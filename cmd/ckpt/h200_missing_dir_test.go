package main

import (
	"strings"
	"testing"
)

// TestH200MissingDirectorySaysSo: a write command told to create its
// store in a directory that does not exist (ckpt demo --db nodir/x.db,
// ckpt import nodir/x.db DUMP) said "nodir/x.db: no such file or
// directory", which reads as if the file it was asked to create were
// missing; backup and export -o say "no directory nodir". The line
// must name the missing directory, and nothing is created.
func TestH200MissingDirectorySaysSo(t *testing.T) {
	dir, _ := demoFixture(t)
	if r := runIn(t, dir, "", "export", "demo.db", "-o", "dump.jsonl"); r.code != 0 {
		t.Fatalf("export:\n%s", r)
	}
	for _, args := range [][]string{
		{"demo", "--db", "nodir/x.db"},
		{"import", "nodir/x.db", "dump.jsonl"},
	} {
		r := runIn(t, dir, "", args...)
		failsWith(t, r, 1, "nodir/x.db: no directory nodir")
		if strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("the line says the file is missing, not its directory:\n%s", r)
		}
	}
}
