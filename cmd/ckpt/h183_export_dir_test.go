package main

import (
	"os"
	"path/filepath"
	"testing"
)

// ckpt export -o DIR, a directory, exited 1 with Go's "open adir: is a
// directory", where backup to a directory is a usage mistake said in
// the command's words (exit 2). export says the same way what is wrong,
// exit 2, and leaves nothing in the directory or beside it.
func TestH183ExportToADirectoryIsUsage(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	out := filepath.Join(dir, "adir")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "export", "demo.db", "-o", "adir")
	failsWith(t, r, 2, "--output adir is a directory")
	if r.stdout != "" {
		t.Errorf("stdout: want nothing:\n%s", r)
	}
	for _, d := range []string{out, dir} {
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if n := e.Name(); n != "demo.db" && n != "adir" {
				t.Errorf("%s left %s in %s", r.args, n, d)
			}
		}
	}
}
