//go:build unix

package main

import (
	"regexp"
	"strings"
	"testing"
)

// H235: threads with --newest or --prefix reads the threads RecentThreads
// gives; a damaged one among them was left out of the table (only the
// error line told of it), where plain threads marks its row. Both mark
// it: the row says damaged, the others are listed, exit 1.
func TestH235ThreadsNewestAndPrefixMarkTheDamagedRow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h230Damaged(t, dir) // threads a, b, c; b's newest checkpoint record damaged
	for _, args := range [][]string{
		{"threads", "--newest", "3", "f.db"},
		{"threads", "--prefix", "", "--newest", "0", "f.db"},
		{"threads", "--prefix", "b", "f.db"},
	} {
		r := runIn(t, dir, "", args...)
		failsWith(t, r, 1, "could not be read")
		if !regexp.MustCompile(`(?m)^b\s+damaged\b`).MatchString(r.stdout) {
			t.Errorf("%v: no row marking b damaged:\n%s", args, r)
		}
		if args[1] != "--prefix" || args[2] == "" {
			for _, sound := range []string{"a", "c"} {
				if !regexp.MustCompile(`(?m)^` + sound + `\s+\(root\)\s+5\s`).MatchString(r.stdout) {
					t.Errorf("%v: no row of sound thread %s:\n%s", args, sound, r)
				}
			}
		}
		j := runIn(t, dir, "", append([]string{"threads", "--json"}, args[1:]...)...)
		if j.code != 1 {
			t.Fatalf("%v --json: want exit 1:\n%s", args, j)
		}
		rows := decodeJSON[[]struct {
			Thread  string `json:"thread"`
			Damaged string `json:"damaged"`
		}](t, j)
		found := false
		for _, row := range rows {
			if row.Thread == "b" {
				found = row.Damaged != "" && !strings.HasPrefix(row.Damaged, "ckpt: ")
			} else if row.Damaged != "" {
				t.Errorf("%v --json: sound thread %s marked damaged: %q", args, row.Thread, row.Damaged)
			}
		}
		if !found {
			t.Errorf("%v --json: no row of b with its damage:\n%s", args, j)
		}
	}
}
