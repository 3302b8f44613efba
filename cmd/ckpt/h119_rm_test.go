package main

import (
	"strings"
	"testing"
)

// ckpt rm took FILE for writing before it looked for the threads: a
// mistyped thread id, while `ckpt ui` (or any reader) had the file open,
// waited out --lock-timeout and said the file was held, not that there is
// no such thread. It looks first, read-only.
func TestRmOfAMissingThreadSaysSoWhileAReaderHoldsTheFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	startHolder(t, db, true)
	failsWith(t, runIn(t, dir, "", "--lock-timeout", "100ms", "rm", "--yes", db, "demo", "dmeo"), 1, `has no thread "dmeo"`)
}

// Answering no deletes nothing and exits 0, as rm -i and git clean -i
// do: the help says so.
func TestRmHelpSaysWhatANoExitsWith(t *testing.T) {
	t.Parallel()
	r := ok(t, t.TempDir(), "rm", "--help")
	if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "Answering no deletes nothing and exits 0") {
		t.Errorf("rm --help does not say what answering no exits with:\n%s", r.stdout)
	}
}
