package main

import "testing"

// withFlagGuess guessed a flag that has nothing in common with the one
// typed: a short name is within two edits of any short flag, so --js
// (json's start) and --x alike got "did you mean --ns?". A guess is a
// flag the typed name starts, when only one does, or a typo of it (h228).
func TestH228FlagGuessIsNotAnyShortFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "demo.db", "demo", "--js"}, `ckpt: log: unknown flag: --js; did you mean --json? (see 'ckpt log --help')`},
		{[]string{"log", "demo.db", "demo", "--li", "3"}, `ckpt: log: unknown flag: --li; did you mean --limit? (see 'ckpt log --help')`},
		{[]string{"log", "demo.db", "demo", "--h"}, `ckpt: log: unknown flag: --h; did you mean --help? (see 'ckpt log --help')`},
		{[]string{"gc", "demo.db", "--kee", "3"}, `ckpt: gc: unknown flag: --kee; did you mean --keep-last? (see 'ckpt gc --help')`},
		// Nothing in common, or a start two flags share: no guess.
		{[]string{"log", "demo.db", "demo", "--x"}, `ckpt: log: unknown flag: --x (see 'ckpt log --help')`},
		{[]string{"log", "demo.db", "demo", "--l", "3"}, `ckpt: log: unknown flag: --l (see 'ckpt log --help')`},
		{[]string{"gc", "demo.db", "--ke", "3"}, `ckpt: gc: unknown flag: --ke (see 'ckpt gc --help')`},
		{[]string{"log", "demo.db", "demo", "--zz"}, `ckpt: log: unknown flag: --zz (see 'ckpt log --help')`},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, exitUsage, c.want)
	}
}
