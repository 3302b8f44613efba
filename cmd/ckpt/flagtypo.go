package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// withFlagGuess adds "; did you mean --NAME?" to pflag's "unknown flag:
// --NAME" when c has a flag the typed one is a slip of: a mistyped
// command gets cobra's guess, and a mistyped flag is the same slip (the
// user otherwise reads the help to find --limit for --limt).
//
// A slip is the start of exactly one flag's name (--js for --json,
// --crash for --crash-after), or a name within two edits of a flag's
// that keeps something of it: two edits turn any one- or two-letter name
// into --ns, so an edit distance alone guessed --ns for --js and --x.
func withFlagGuess(c *cobra.Command, msg string) string {
	typed, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		// A long flag typed with one dash, as Go's flag package takes
		// it: pflag reads -limit as the shorthands l, i, m, ... and
		// names the first ("unknown shorthand flag: 'l' in -limit").
		// One letter after the dash is a shorthand slip: no guess.
		_, word, short := strings.Cut(msg, "' in -")
		if !strings.HasPrefix(msg, "unknown shorthand flag: '") || !short || len([]rune(word)) < 2 {
			return msg
		}
		typed = word
	}
	if typed == "" {
		return msg
	}
	// Names are lower case: --LIMIT is --limit's slip.
	typed = strings.ToLower(typed)
	n := len([]rune(typed))
	var starts []string
	best, bestDist := "", 3 // cobra's distance for commands is 2: the same bar
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if strings.HasPrefix(f.Name, typed) {
			starts = append(starts, f.Name)
		}
		// Fewer edits than the typed name has letters: one letter at
		// least is kept.
		if d := editDistance(typed, f.Name); d < n && d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	// A unique start is what was typed, exactly, of that flag: it wins
	// over a short name one edit from another flag's (--js: --json, not
	// --ns).
	if len(starts) == 1 {
		best = starts[0]
	}
	if best == "" {
		return msg
	}
	return msg + "; did you mean --" + best + "?"
}

// editDistance is the Levenshtein distance between a and b, in letters
// (runes: a typed name may hold any).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
