package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ckpt import whose DUMP is a directory, into a new path, said the new
// path was the directory ("ckpt: fresh.db: is a directory; nothing
// imported, no file created"): the read error of the dump was taken for
// one of the file being created. Into an existing store it said Go's
// "read adir: is a directory". The line must name the dump as what is
// wrong, and leave no file created or the store byte-identical; a
// missing dump is said as a missing store file is ("DUMP: no such file").
// A dump read from stdin that fails (stdin a directory) names stdin, not
// the new file.
func TestH183ImportOfADirectoryNamesTheDump(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int // a directory is a usage mistake, as for export -o
		want string
	}{
		{[]string{"import", "fresh.db", "adir"}, exitUsage, "adir is a directory, not a dump"},
		{[]string{"import", "demo.db", "adir"}, exitUsage, "adir is a directory, not a dump"},
		{[]string{"import", "fresh.db", "nodump.jsonl"}, exitError, "nodump.jsonl: no such file"},
		{[]string{"import", "demo.db", "nodump.jsonl"}, exitError, "nodump.jsonl: no such file"},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, c.code, c.want)
		if strings.Contains(r.stderr, "fresh.db: ") || strings.Contains(r.stderr, "read adir") || strings.Contains(r.stderr, "open nodump") {
			t.Errorf("the line names the wrong file, or in Go's words:\n%s", r)
		}
		if _, err := os.Stat(filepath.Join(dir, "fresh.db")); err == nil {
			t.Fatalf("%s created fresh.db", r.args)
		}
		if after, err := os.ReadFile(db); err != nil || !bytes.Equal(before, after) {
			t.Fatalf("%s changed demo.db (%v)", r.args, err)
		}
	}
	d, err := os.Open(filepath.Join(dir, "adir"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cmd := exec.Command(binPath, "import", "fresh.db")
	cmd.Dir, cmd.Stdin = dir, d
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err == nil || strings.Contains(errb.String(), "fresh.db: ") || !strings.Contains(errb.String(), "stdin") {
		t.Errorf("import fresh.db < a directory: %v, stderr %q: want a failure naming stdin, not fresh.db", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh.db")); err == nil {
		t.Fatal("import from a directory on stdin created fresh.db")
	}
}
