package main

import (
	"strings"
	"testing"
)

// An id, or the start of one, that no checkpoint of the thread has said
// `demo.db: not found: no checkpoint id starting with "01ZZZ" in thread
// "demo" namespace ""`: the library's words, the sentinel's "not found:"
// in the middle of the line and an empty namespace the user never typed.
// It now says it as a missing thread is said (FILE has no thread ...),
// and where the ids are listed.
func TestH225MissingCheckpointIDSaidPlainly(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	const absent = "01M00000000000000000000000" // a whole id no step has
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", db, "demo", "01ZZZ"}, `ckpt: ` + db + `: thread "demo" has no checkpoint whose id starts with "01ZZZ" ('ckpt log' lists its checkpoints)`},
		{[]string{"show", db, "demo", absent}, `ckpt: ` + db + `: thread "demo" has no checkpoint ` + absent + ` ('ckpt log' lists its checkpoints)`},
		{[]string{"diff", db, "demo", ids[1], "01ZZZ"}, `ckpt: ` + db + `: thread "demo" has no checkpoint whose id starts with "01ZZZ" ('ckpt log' lists its checkpoints)`},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, exitError, c.want)
		if strings.Contains(r.stderr, `namespace ""`) || strings.Contains(r.stderr, "not found:") {
			t.Fatalf("library words in the line:\n%s", r)
		}
	}
}

// With --ns a namespace the thread lacks, an id said only that no
// checkpoint of that namespace has it; without an id show names the
// namespaces the thread has (TestShowAndDiffSayWhichNamespaceHoldsTheID).
// With one it does too now: the namespace is the slip, not the id.
func TestH225MissingIDInANamespaceTheThreadLacks(t *testing.T) {
	t.Parallel()
	dir, db, sub := nsStore(t)
	for _, args := range [][]string{
		{"show", db, "t", "01ZZZ", "--ns", "nope"},
		{"diff", db, "t", "01ZZZ", sub[0], "--ns", "nope"},
	} {
		failsWith(t, runIn(t, dir, "", args...), 1, `ckpt: `+db+`: thread "t" has no namespace "nope" (it has namespaces (root), sub:1)`)
	}
}
