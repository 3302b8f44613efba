//go:build linux

package main

import (
	"os"
	"strings"
	"testing"
)

// TestExportIntoADirectoryThatTakesNoFile: 'ckpt export FILE -o
// DIR/x.jsonl' where DIR takes no new file (no write permission; /sys
// refuses even root). The line named the hidden temporary file nobody
// gave ("open /sys/.x.jsonl.ckpt-export-952341377.tmp: permission
// denied") and not what was asked or what was left. It names the dump,
// the directory, and that nothing was written.
func TestExportIntoADirectoryThatTakesNoFile(t *testing.T) {
	t.Parallel()
	if fi, err := os.Stat("/sys/kernel"); err != nil || !fi.IsDir() {
		t.Skip("no /sys here")
	}
	dir, _ := demoFixture(t)
	r := runIn(t, dir, "", "export", "demo.db", "-o", "/sys/h171-dump.jsonl")
	failsWith(t, r, 1, "export to /sys/h171-dump.jsonl: /sys takes no new file (permission denied); nothing written")
	if strings.Contains(r.stderr, ".tmp") {
		t.Fatalf("names the temporary file:\n%s", r)
	}
}
