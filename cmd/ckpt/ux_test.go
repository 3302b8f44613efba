package main

// A newcomer's walk through the command: each test here is a rough edge
// found by following the README, kept from coming back.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestEmptyThreadIsUsage: an empty thread id on the command line is a
// usage mistake (exit 2) found before the file is opened, never "every
// thread" (ListOptions' zero ThreadID) and never a new demo.db.
func TestEmptyThreadIsUsage(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	long := strings.Repeat("x", 1025)
	cases := [][]string{
		{"log", db, ""},
		{"show", db, ""},
		{"diff", db, "", ids[1], ids[2]},
		{"export", db, "demo", ""},
		{"rm", db, "", "--yes"},
		{"cp", db, "demo", ""},
		{"cp", db, "", "x"},
		{"log", db, long},
	}
	for _, args := range cases {
		r := runIn(t, dir, "", args...)
		want := "thread id is empty"
		if slicesContains(args, long) {
			want = "thread id is 1025 bytes, the limit is 1024"
		}
		failsWith(t, r, 2, want)
		if r.stdout != "" {
			t.Fatalf("a refused command printed on stdout:\n%s", r)
		}
	}
	failsWith(t, runIn(t, dir, "", "cp", db, "demo", "demo"), 2, "SRC and DST are the same thread")

	// The demo checks --thread before it creates its file.
	empty := t.TempDir()
	failsWith(t, runIn(t, empty, "", "demo", "--thread", ""), 2, `--thread "": thread id is empty`)
	if _, err := os.Stat(filepath.Join(empty, "demo.db")); !os.IsNotExist(err) {
		t.Fatalf("demo with a bad --thread created demo.db: %v", err)
	}
}

func slicesContains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestArgCountSaysWhat: a wrong number of arguments says how many the
// command takes and which it got, not only the usage line (an extra
// word, such as a thread after "gc FILE", is then plain to see).
func TestArgCountSaysWhat(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gc", db, "demo", "--keep-last", "1"}, `gc takes 1 argument, got 2 ("` + db + `" "demo"); usage: ckpt gc FILE`},
		{[]string{"log", db}, `log takes 2 arguments, got 1 ("` + db + `"); usage: ckpt log FILE THREAD [flags]`},
		{[]string{"show", db}, `show takes 2 or 3 arguments, got 1`},
		{[]string{"threads"}, `threads takes 1 argument, got none; usage: ckpt threads FILE [flags]`},
		{[]string{"rm", db}, `rm takes at least 2 arguments, got 1`},
		{[]string{"demo", "extra"}, `demo takes no arguments, got 1 ("extra"); usage: ckpt demo [flags]`},
	} {
		failsWith(t, runIn(t, dir, "", c.args...), 2, c.want)
	}
}

// TestHelpTextWrapped: every command's description in --help is wrapped
// for an 80-column terminal (recover's ran on in one 129-character line,
// and log's and stats' one-line summaries were wider than the screen).
func TestHelpTextWrapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := []string{""}
	for _, c := range newApp(nil, nil, nil).rootCommand().Commands() {
		names = append(names, c.Name())
	}
	for _, name := range names {
		args := []string{"--help"}
		if name != "" {
			args = []string{name, "--help"}
		}
		r := runIn(t, dir, "", args...)
		if r.code != 0 {
			t.Fatalf("want success:\n%s", r)
		}
		text, _, _ := strings.Cut(r.stdout, "\nUsage:")
		for _, l := range strings.Split(text, "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("ckpt %s --help: a line of %d characters: %q", name, n, l)
			}
		}
	}
}

// TestImportExistingThreadSaysWhere: importing a dump whose thread the
// file already holds names the file and the thread, no dump line (it
// said "import (before line 35)", the end of the batch, which has nothing
// to do with it), and that nothing was imported.
func TestImportExistingThreadSaysWhere(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	dump := ok(t, dir, "export", db).stdout
	r := runIn(t, dir, dump, "import", "demo.db")
	failsWith(t, r, 1, `ckpt: thread "demo" is already in the store (delete it first or import into another file); nothing imported, demo.db left as it was`)
	if strings.Contains(r.stderr, "line") {
		t.Fatalf("names a dump line for a thread that exists:\n%s", r)
	}
	// A malformed dump says the same about the file.
	failsWith(t, runIn(t, dir, "not json\n", "import", "demo.db"), 1, "line 1: not a ckpt dump")
	failsWith(t, runIn(t, dir, "not json\n", "import", "demo.db"), 1, "; nothing imported, demo.db left as it was")
	failsWith(t, runIn(t, dir, "not json\n", "import", "new.db"), 1, "; nothing imported, no new.db created")
}

// TestStatsNoNegativeSaving: on the demo's short lists the append-deltas
// take more than the whole lists would; stats said "saved by
// append-deltas -64 B". It says none was saved and by how much the
// deltas are larger, and every row's figure sits in one column.
func TestStatsNoNegativeSaving(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	st := decodeJSON[map[string]any](t, ok(t, dir, "stats", db, "--json"))
	if st["delta_saved_bytes"].(float64) >= 0 {
		t.Skip("the demo's lists gained from deltas: nothing to check")
	}
	text := ok(t, dir, "stats", db).stdout
	if regexp.MustCompile(`-\d+(\.\d+)? (B|KiB|MiB)`).MatchString(text) {
		t.Fatalf("a negative size:\n%s", text)
	}
	more := humanBytes(-int64(st["delta_saved_bytes"].(float64)))
	if !regexp.MustCompile(`saved by append-deltas +none +the deltas take ` + regexp.QuoteMeta(more) + ` more than the whole lists would`).MatchString(text) {
		t.Fatalf("no plain word for a saving below zero:\n%s", text)
	}
	// The figures of the summary rows (after the line naming the file)
	// start in one column.
	head, rows, _ := strings.Cut(text, "\n")
	if !strings.HasPrefix(head, db+": ") {
		t.Fatalf("the first line does not name the file:\n%s", text)
	}
	col := -1
	for _, l := range strings.Split(rows, "\n") {
		if l == "" {
			break // the bucket table follows
		}
		m := regexp.MustCompile(`^([a-z -]+?)  +\S`).FindStringSubmatchIndex(l)
		if m == nil {
			t.Fatalf("row without a figure: %q", l)
		}
		if col == -1 {
			col = m[1] - 1
		} else if m[1]-1 != col {
			t.Fatalf("figures not in one column (%d, want %d) in %q:\n%s", m[1]-1, col, l, text)
		}
	}
	// Every row with a note has its note in one column too.
	notes := -1
	for _, l := range strings.Split(rows, "\n") {
		if l == "" {
			break
		}
		f := regexp.MustCompile(`^[a-z -]+?  +\S+( \S+)?  +`).FindStringIndex(l)
		if f == nil {
			continue
		}
		if notes == -1 {
			notes = f[1]
		} else if f[1] != notes {
			t.Fatalf("notes not in one column (%d, want %d) in %q:\n%s", f[1], notes, l, text)
		}
	}
}

// TestMissingThreadOneWording: every command given a thread the file
// does not have says so the same way, naming the file (show said
// `demo.db: not found: no checkpoint in thread "nope" namespace ""`,
// export `not found: thread "nope"`), and an id prefix naming several
// checkpoints speaks no library jargon ("invalid config").
func TestMissingThreadOneWording(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	for _, args := range [][]string{
		{"log", "demo.db", "nope"}, {"show", "demo.db", "nope"}, {"show", "demo.db", "nope", ids[1]},
		{"diff", "demo.db", "nope", ids[1], ids[2]}, {"export", "demo.db", "demo", "nope"},
		{"cp", "demo.db", "nope", "x"}, {"rm", "demo.db", "nope", "--yes"},
	} {
		failsWith(t, runIn(t, dir, "", args...), 1, `ckpt: demo.db has no thread "nope"`)
	}
	r := runIn(t, dir, "", "show", db, "demo", "0")
	failsWith(t, r, 2, `"0" is the start of 8 checkpoint ids`)
	if strings.Contains(r.stderr, "invalid config") {
		t.Fatalf("library jargon:\n%s", r)
	}
}

// TestDiffCutsLongValues: diff printed a changed value whole, both sides,
// on one line each: a 20 kB channel made two 20 kB lines. Long values are
// cut, the part shown starts near the first difference (so the change is
// in view), each says its whole size, and --json still has them whole.
func TestDiffCutsLongValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "long.db")
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("all work and no play ", 1000)
	var ids []string
	for _, st := range []map[string]any{
		{"doc": long + "OLD ending", "gone": long},
		{"doc": long + "NEW ending", "added": long},
	} {
		id, err := s.Save(t.Context(), "t", st, ckpt.Metadata{"note": long})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := ok(t, dir, "diff", db, "t", ids[0], ids[1]).stdout
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 400 {
			t.Fatalf("a line of %d bytes:\n%s", len(l), out)
		}
	}
	for _, want := range []string{"OLD ending", "NEW ending", "+ added = ", "- gone (was ", `OLD ending" (20.5 KiB in all)`, "--json prints them whole"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in:\n%s", want, out)
		}
	}
	if js := ok(t, dir, "diff", db, "t", ids[0], ids[1], "--json").stdout; !strings.Contains(js, long+"NEW ending") {
		t.Fatal("--json does not carry the whole value")
	}
}

// TestReadmeCommandTable: README's table of commands names every command
// the binary has (recover and rekey were missing), and every flag a row
// shows exists on that command.
func TestReadmeCommandTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Skipf("no README beside the module: %v", err)
	}
	row := regexp.MustCompile("(?m)^\\| `ckpt ([a-z]+)([^`]*)`")
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	root := newApp(nil, nil, nil).rootCommand()
	root.InitDefaultCompletionCmd()
	listed := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		name := m[1]
		listed[name] = true
		c, _, err := root.Find([]string{name})
		if err != nil || c == root {
			t.Errorf("README lists ckpt %s, which is no command", name)
			continue
		}
		for _, f := range flag.FindAllString(m[2], -1) {
			if c.Flags().Lookup(f[2:]) == nil && c.InheritedFlags().Lookup(f[2:]) == nil {
				t.Errorf("README shows ckpt %s %s, which has no such flag", name, f)
			}
		}
	}
	walkThrough := map[string]bool{"demo": true, "log": true, "diff": true} // shown with their output above the table
	for _, c := range root.Commands() {
		if n := c.Name(); !listed[n] && !walkThrough[n] && n != "help" {
			t.Errorf("README's table of commands has no row for ckpt %s", n)
		}
	}
}

// TestEmptyListingsSaySo: a listing with nothing in it printed its bare
// column header ("ID  TIME  STEP ..."), which reads like a broken table;
// it says in words that nothing is there. --json stays an empty list.
func TestEmptyListingsSaySo(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	if got := ok(t, dir, "log", "demo.db", "demo", "--filter", "node=nobody", "--ns", "").stdout; got != `no checkpoint of thread "demo" in namespace (root) with node=nobody`+"\n" {
		t.Fatalf("log with no match printed %q", got)
	}
	if got := ok(t, dir, "log", "demo.db", "demo", "--filter", "node=nobody", "--json").stdout; strings.Join(strings.Fields(got), "") != "[]" {
		t.Fatalf("log --json with no match printed %q", got)
	}
	runIn(t, dir, "", "rm", db, "demo", "--yes")
	if got := ok(t, dir, "threads", "demo.db").stdout; got != "demo.db has no threads\n" {
		t.Fatalf("threads on an empty store printed %q", got)
	}
}

// TestKeyErrorsPointToTheFlag: a command on an encrypted store without
// its key said "key 1 is not among the keys given" or "open it with its
// keys to write", but not how keys are given: every such error names
// --key-file.
func TestKeyErrorsPointToTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "enc.db")
	s, err := ckpt.Open(db, ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{cliKey(1, 3)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(t.Context(), "t", map[string]any{"secret": "x"}, ckpt.Metadata{"step": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"show", "enc.db", "t"}, {"show", "enc.db", "t", "--channel", "secret"}, {"demo", "--db", "enc.db"}} {
		failsWith(t, runIn(t, dir, "", args...), 1, "--key-file")
	}
}

// TestRootHelpFits: 'ckpt' alone is the first thing a newcomer runs; its
// list of commands had lines of up to 110 characters, each wrapping on an
// 80-column terminal. And 'ckpt --version', the usual guess, was an
// unknown flag: it prints what 'ckpt version' prints.
func TestRootHelpFits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := ok(t, dir).stdout
	list, _, _ := strings.Cut(out, "\nFlags:")
	for _, l := range strings.Split(list, "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("ckpt: a line of %d characters: %q", n, l)
		}
	}
	if got, want := ok(t, dir, "--version").stdout, ok(t, dir, "version").stdout; got != want {
		t.Errorf("ckpt --version printed %q, ckpt version %q", got, want)
	}
}
