package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Thread ids, metadata values and channel names are the program's data:
// nothing keeps them printable. The commands printed them as they are, so
// a 0xff byte (text/tabwriter's escape character) left every later row of
// a table unaligned, raw tabs in it; a tab or newline split a cell or a
// row; and an escape sequence in a thread id reached the terminal. Such
// a name is shown Go-quoted ("b\xff\xfex", which bash reads back as
// $'b\xff\xfex'); a printable one as it is.
func TestH165UnprintableNamesAreQuoted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "names.db")
	const (
		esc  = "ctl\x1b[31mred\n"
		bad  = "b\xff\xfex"
		qEsc = `"ctl\x1b[31mred\n"`
		qBad = `"b\xff\xfex"`
	)
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := s.Save(ctx, bad, map[string]any{"a": 1}, ckpt.Metadata{"node": "n"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Save(ctx, bad, map[string]any{"a": 2, "x\x1b": 1}, ckpt.Metadata{"node": "\xff", "route": "a\tb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{esc, "plain"} {
		if _, err := s.Save(ctx, th, map[string]any{"a": 1}, ckpt.Metadata{"node": "n"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clean := func(r result) {
		t.Helper()
		if strings.ContainsAny(r.stdout, "\x1b\xff\t") {
			t.Fatalf("raw escape, 0xff or tab in the output:\n%q", r.stdout)
		}
	}
	// aligned: every row of a table starts its second column where the
	// header does.
	aligned := func(r result, rows int) []string {
		t.Helper()
		clean(r)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != rows+1 {
			t.Fatalf("want a header and %d rows:\n%s", rows, r.stdout)
		}
		col := strings.Index(lines[0], "  ") + 2
		for col < len(lines[0]) && lines[0][col] == ' ' {
			col++
		}
		for _, l := range lines[1:] {
			if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
				t.Fatalf("row not aligned with the header at column %d:\n%s", col, r.stdout)
			}
		}
		return lines
	}

	th := aligned(ok(t, dir, "threads", db), 3)
	if !strings.HasPrefix(th[1], qBad+" ") || !strings.HasPrefix(th[2], qEsc+" ") || !strings.HasPrefix(th[3], "plain ") {
		t.Fatalf("want the thread ids %s, %s and plain:\n%s", qBad, qEsc, strings.Join(th, "\n"))
	}
	lg := aligned(ok(t, dir, "log", db, bad), 2)
	for _, want := range []string{` "\xff" `, ` "a\tb" `, ` a,"x\x1b" `} {
		if !strings.Contains(lg[1], want) {
			t.Fatalf("want %s in the newest row:\n%s", want, strings.Join(lg, "\n"))
		}
	}
	r := ok(t, dir, "diff", db, bad, first, second)
	clean(r)
	if !strings.HasPrefix(r.stdout, "thread "+qBad+"\n") || !strings.Contains(r.stdout, `+ "x\x1b" = 1`) {
		t.Fatalf("want the thread and the channel quoted:\n%s", r.stdout)
	}
	if r := ok(t, dir, "cp", db, bad, "copy"); r.stdout != "copied thread "+qBad+" to copy\n" {
		t.Fatalf("cp:\n%s", r)
	}
	if r := ok(t, dir, "rm", db, esc, "--yes"); r.stdout != "deleted thread "+qEsc+"\n" {
		t.Fatalf("rm:\n%s", r)
	}
}
