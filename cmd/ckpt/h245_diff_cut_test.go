package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// ckpt diff printed every item appended to a list channel, one line each:
// 100,000 lines for a list that grew by 100,000 items. It now prints the
// first 200, as the history browser's diff page draws them, and says how
// many more it left out and how to get them; --full prints them all (and
// values uncut), --json is whole as ever. A small change is printed whole.
func TestH245DiffCutsLongAppends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "big.db")
	s, err := ckpt.Open(db, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	long := make([]any, n)
	for i := range n {
		long[i] = i
	}
	a, err := s.Save(ctx, "t", map[string]any{"grown": []any{}, "small": []any{1}, "doc": strings.Repeat("x", 1000)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(ctx, "t", map[string]any{"grown": long, "small": []any{1, 2, 3}, "doc": strings.Repeat("x", 1000) + "y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	has := func(out string, l string) bool { return strings.Contains("\n"+out, "\n"+l+"\n") }

	r := runIn(t, dir, "", "diff", db, "t", a, b, "--color", "never")
	if r.code != 0 {
		t.Fatalf("diff:\n%s", r)
	}
	if lines := strings.Count(r.stdout, "\n"); lines > 250 {
		t.Errorf("diff of a list grown by %d items printed %d lines", n, lines)
	}
	for _, want := range []string{
		"    + 0", "    + 199",
		"    … 99,800 more items not printed (--full prints every item, --json too)",
		"    + 2", "    + 3",
	} {
		if !has(r.stdout, want) {
			t.Errorf("diff does not print the line %q:\n%.3000s", want, r.stdout)
		}
	}
	for _, want := range []string{"\n~ grown: 100,000 items appended (version ", "\n~ small: 2 items appended (version "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff does not print %q:\n%.3000s", want[1:], r.stdout)
		}
	}
	if has(r.stdout, "    + 200") || strings.Contains(r.stdout, "small: 2 items appended\n    …") {
		t.Errorf("diff printed past the first 200 items, or cut a short list:\n%.3000s", r.stdout)
	}
	if !strings.Contains(r.stdout, "(values longer than 240 bytes are cut: --full or --json prints them whole)") {
		t.Errorf("diff does not say the long value is cut and how to see it whole:\n%.3000s", r.stdout)
	}

	full := runIn(t, dir, "", "diff", db, "t", a, b, "--color", "never", "--full")
	if full.code != 0 {
		t.Fatalf("diff --full:\n%.3000s", full)
	}
	if !has(full.stdout, "    + 99999") || strings.Contains(full.stdout, "more items not printed") || strings.Contains(full.stdout, " are cut") ||
		!strings.Contains(full.stdout, strings.Repeat("x", 1000)+`y"`) {
		t.Errorf("diff --full does not print every item and the values whole:\n%.3000s", full.stdout)
	}

	js := runIn(t, dir, "", "diff", db, "t", a, b, "--json")
	var d struct {
		Changed []struct {
			Channel  string
			Appended []any
		}
	}
	if err := json.Unmarshal([]byte(js.stdout), &d); js.code != 0 || err != nil {
		t.Fatalf("diff --json: %v\n%.3000s", err, js)
	}
	got := map[string]int{}
	for _, c := range d.Changed {
		got[c.Channel] = len(c.Appended)
	}
	if got["grown"] != n || got["small"] != 2 {
		t.Errorf("diff --json: appended %v, want grown %d and small 2", got, n)
	}
}
