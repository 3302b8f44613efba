package main

import "testing"

// A long flag typed with one dash, as Go's flag package takes it (-limit),
// or in capitals (--LIMIT) got no guess: pflag reads -limit as the
// shorthands l, i, m, ... and says "unknown shorthand flag: 'l' in
// -limit", which names a flag nobody meant (h228).
func TestH228FlagWithOneDashOrCapitalsGetsTheGuess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "demo.db", "demo", "-limit", "3"}, `ckpt: log: unknown shorthand flag: 'l' in -limit; did you mean --limit? (see 'ckpt log --help')`},
		{[]string{"gc", "demo.db", "-keep-last", "3"}, `ckpt: gc: unknown shorthand flag: 'k' in -keep-last; did you mean --keep-last? (see 'ckpt gc --help')`},
		{[]string{"log", "demo.db", "demo", "-json"}, `ckpt: log: unknown shorthand flag: 'j' in -json; did you mean --json? (see 'ckpt log --help')`},
		{[]string{"log", "demo.db", "demo", "--LIMIT", "3"}, `ckpt: log: unknown flag: --LIMIT; did you mean --limit? (see 'ckpt log --help')`},
		// A one-letter shorthand: no guess.
		{[]string{"log", "demo.db", "demo", "-x"}, `ckpt: log: unknown shorthand flag: 'x' in -x (see 'ckpt log --help')`},
		{[]string{"log", "demo.db", "demo", "-n", "x"}, `ckpt: log: unknown shorthand flag: 'n' in -n (see 'ckpt log --help')`},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, exitUsage, c.want)
	}
}
