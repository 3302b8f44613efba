package main

import (
	"strings"
	"testing"
)

// A boolean flag given a value that is not one (--json=maybe) is a usage
// mistake, exit 2, and the line said Go's parser's words:
// `strconv.ParseBool: parsing "maybe": invalid syntax`. It says what the
// flag takes instead.
func TestH183BadBoolFlagSaysWhatItTakes(t *testing.T) {
	t.Parallel()
	dir, _ := demoFixture(t)
	for _, args := range [][]string{
		{"threads", "demo.db", "--json=maybe"},
		{"threads", "demo.db", "--utc=yes"},
		{"gc", "demo.db", "--keep-last", "1", "--dry-run=2"},
	} {
		r := runIn(t, dir, "", args...)
		failsWith(t, r, 2, "want true or false")
		if strings.Contains(r.stderr, "strconv") || strings.Contains(r.stderr, "invalid syntax") {
			t.Errorf("Go's parser's words in the line:\n%s", r)
		}
	}
}
