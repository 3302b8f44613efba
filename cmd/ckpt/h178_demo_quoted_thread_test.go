package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestH178DemoTakesBackAGoQuotedThread: every command takes a name in
// the Go-quoted form the commands print ("b\xff\xfex"), --thread of demo
// too: the demo then writes to the thread those bytes name, which log,
// given the same quoted form, finds. On 1fd6b4c demo took the quotes and
// backslashes as the name itself, a thread no other command could name,
// and its hints printed the name unquoted for the shell.
func TestH178DemoTakesBackAGoQuotedThread(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	quoted := `"b\xff\xfex"`
	r := runIn(t, dir, "", "demo", "--db", db, "--thread", quoted)
	if r.code != 0 {
		t.Fatalf("demo --thread %s:\n%s", quoted, r)
	}
	// Its hints name the thread as the shell gives that form back, the
	// bytes it quotes never raw.
	if hint := " log " + db + " '" + quoted + "'\n"; !strings.Contains(r.stdout, hint) || strings.Contains(r.stdout, "\xff\xfe") {
		t.Errorf("demo's hints: want %q, and no raw bytes of the name:\n%s", hint, r)
	}
	r = runIn(t, dir, "", "log", db, quoted)
	if r.code != 0 || strings.Count(r.stdout, "\n") < 8 {
		t.Fatalf("log of the demo's thread %s:\n%s", quoted, r)
	}
	r = runIn(t, dir, "", "threads", db)
	if r.code != 0 || !strings.Contains(r.stdout, quoted) || strings.Contains(r.stdout, `"\"b`) {
		t.Fatalf("threads: want the thread shown as %s (the bytes it quotes):\n%s", quoted, r)
	}
}
