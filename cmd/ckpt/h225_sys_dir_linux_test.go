package main

import (
	"os"
	"strings"
	"testing"
)

// End to end, where even root is refused a new file (/sys, as
// h171_export_dir_linux_test.go does): the commands that create a store
// or a copy there say the directory refused it, in the user's words, and
// name no temporary file. At afd1578 backup said "open
// /sys/x.db.ckpt-backup-NNN.tmp: permission denied" and demo and import
// "/sys/x.db: permission denied".
func TestH225NewFileInADirectoryThatTakesNone(t *testing.T) {
	t.Parallel()
	if fi, err := os.Stat("/sys/kernel"); err != nil || !fi.IsDir() {
		t.Skip("no /sys here")
	}
	dir, _ := demoFixture(t)
	const dst = "/sys/h225.db"
	dump := ok(t, dir, "export", "demo.db").stdout
	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"backup", "demo.db", dst}, "", "ckpt: backup to " + dst + ": /sys takes no new file (permission denied); no " + dst + " written"},
		{[]string{"demo", "--db", dst}, "", "ckpt: " + dst + ": permission denied (creating it needs write permission in /sys)"},
		{[]string{"import", dst}, dump, "ckpt: " + dst + ": permission denied (creating it needs write permission in /sys); nothing imported, no file created"},
	} {
		r := runIn(t, dir, c.stdin, c.args...)
		failsWith(t, r, 1, c.want)
		if strings.Contains(r.stderr, ".tmp") || strings.Contains(r.stderr, "open /") {
			t.Fatalf("names a temporary file, in Go's words:\n%s", r)
		}
	}
}
