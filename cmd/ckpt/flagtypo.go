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
func withFlagGuess(c *cobra.Command, msg string) string {
	typed, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok || typed == "" {
		return msg
	}
	best, bestDist := "", 3 // cobra's distance for commands is 2: the same bar
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(typed, f.Name)
		if len(typed) >= 3 && strings.HasPrefix(f.Name, typed) {
			d = min(d, 1) // --crash for --crash-after
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return msg
	}
	return msg + "; did you mean --" + best + "?"
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (flag names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
