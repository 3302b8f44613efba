package main

import (
	"os"
	"path/filepath"
	"testing"
)

// 'ckpt import FILE DIR', DUMP a directory, exited 1 where 'ckpt export
// FILE -o DIR' (and 'ckpt backup SRC DIR') exit 2: the same mistake, a
// directory named where a dump file belongs, is a usage fault (exit 2,
// with the pointer to the command's help) both ways, into a new FILE and
// an existing one.
func TestH191DumpDirectoryIsUsageBothWays(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	failsWith(t, runIn(t, dir, "", "export", "demo.db", "-o", "adir"), exitUsage, "--output adir is a directory")
	for _, file := range []string{"fresh.db", "demo.db"} {
		r := runIn(t, dir, "", "import", file, "adir")
		failsWith(t, r, exitUsage, "adir is a directory, not a dump")
		failsWith(t, r, exitUsage, "(see 'ckpt import --help')")
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh.db")); err == nil {
		t.Fatal("import of a directory created fresh.db")
	}
}
