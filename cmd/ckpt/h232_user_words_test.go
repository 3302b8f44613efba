package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH232NoSentinelWordsAtTheEnd: the messages that still ended in, or
// began with, the library's sentinel text ("...: not found", "already
// exists: ...") say it in the user's words, as h225 made a missing id
// and a namespace the thread lacks (with an id) say it: a missing thread,
// a channel the checkpoint lacks (show --channel), a namespace the
// thread lacks without an id (show, log --ns), and an import of a thread
// the file has. The exit codes stay 1.
func TestH232NoSentinelWordsAtTheEnd(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	newest := decodeJSON[checkpointDoc](t, ok(t, dir, "show", "demo.db", "demo", "--json")).ID
	dump := ok(t, dir, "export", "demo.db").stdout
	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{args: []string{"show", "demo.db", "nope"}, want: `ckpt: demo.db has no thread "nope" ('ckpt threads' lists its threads)`},
		{args: []string{"log", "demo.db", "nope"}, want: `ckpt: demo.db has no thread "nope" ('ckpt threads' lists its threads)`},
		{args: []string{"show", "demo.db", "demo", "--channel", "nope"},
			want: `ckpt: demo.db: checkpoint ` + newest + ` of thread "demo" has no channel "nope" (it has: draft, findings, messages, plan, question, review, revisions)`},
		{args: []string{"show", "demo.db", "demo", "--ns", "nope"}, want: `ckpt: demo.db: thread "demo" has no namespace "nope" (it has namespaces (root))`},
		{args: []string{"log", "demo.db", "demo", "--ns", "nope"}, want: `ckpt: demo.db: thread "demo" has no namespace "nope" (it has namespaces (root))`},
		{args: []string{"import", "demo.db"}, stdin: dump,
			want: `ckpt: thread "demo" is already in the store (delete it first or import into another file); nothing imported, demo.db left as it was`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := runIn(t, dir, c.stdin, c.args...)
			failsWith(t, r, exitError, c.want)
			if strings.TrimSuffix(r.stderr, "\n") != c.want {
				t.Errorf("ckpt %v said more or other than %q:\n%s", c.args, c.want, r)
			}
		})
	}
}

// TestH232ImportPastThePeekSaysItPlainly: a thread the file has, named in
// a piped dump past what the command reads ahead (importPeek), is met by
// the library's Import, whose error starts with ErrExists' words
// ("already exists: thread ..."): the line says it as the look ahead
// does, exit 1.
func TestH232ImportPastThePeekSaysItPlainly(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	big := filepath.Join(dir, "big.db")
	s, err := ckpt.Open(big, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// "a-big" first in the dump, over importPeek; then "demo".
	if _, err := s.Save(context.Background(), "a-big", map[string]any{"pad": strings.Repeat("x", importPeek)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ok(t, dir, "export", "demo.db", "-o", "demo.jsonl")
	r := runIn(t, dir, "", "import", "big.db", "demo.jsonl")
	if r.code != 0 {
		t.Fatalf("import demo into big.db:\n%s", r)
	}
	dump := ok(t, dir, "export", "big.db").stdout
	if len(dump) <= importPeek || !strings.Contains(dump[importPeek:], `"thread":"demo"`) {
		t.Fatalf("the dump does not name demo past the first %d bytes", importPeek)
	}
	r = runIn(t, dir, dump, "import", "demo.db")
	failsWith(t, r, exitError, `thread "demo" is already in the store (delete it first or import into another file)`)
	if strings.Contains(r.stderr, "already exists") {
		t.Errorf("the library's words in the line:\n%s", r)
	}
}
