package main

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// durationFlag is a duration flag that also takes days and weeks (30d, 2w,
// 1d12h, as restic's --keep-within and journalctl's --vacuum-time do) and
// refuses zero and negative values: every duration flag of ckpt is a
// timeout or an age, where neither means anything. A day is 24 hours.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return "0" // pflag shows no default for "0"
	}
	return f.d.String()
}

func (f durationFlag) Type() string { return "duration" }

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("must be more than 0")
	}
	*f.d = d
	return nil
}

// dayWeek matches a number of days or weeks inside a duration.
var dayWeek = regexp.MustCompile(`([0-9]+(?:\.[0-9]*)?)([dw])`)

// parseDuration parses a Go duration in which d (24h) and w (7d) may also
// appear: each is rewritten to hours before time.ParseDuration sums the
// parts ("1d12h" is "24h12h", 36 hours).
func parseDuration(s string) (time.Duration, error) {
	var bad error
	hours := dayWeek.ReplaceAllStringFunc(s, func(m string) string {
		sub := dayWeek.FindStringSubmatch(m)
		n, err := strconv.ParseFloat(sub[1], 64)
		if err != nil {
			bad = err
			return m
		}
		if sub[2] == "w" {
			n *= 7
		}
		return strconv.FormatFloat(n*24, 'f', -1, 64) + "h"
	})
	d, err := time.ParseDuration(hours)
	if bad != nil || err != nil {
		return 0, fmt.Errorf("%q is not a duration (examples: 90m, 36h, 30d, 2w, 1d12h)", s)
	}
	return d, nil
}

// countFlag is an int flag whose malformed value says what the flag takes
// (pflag's own IntVar says strconv's "strconv.ParseInt: parsing "abc":
// invalid syntax"); pflag's error names the flag and the value around
// it: `invalid argument "abc" for "--limit" flag: want a whole number, 0
// (no limit) or more`. The range is checked where the flag is used, as
// before (those messages say it too).
type countFlag struct {
	n     *int
	wants string // what the flag takes: "0 (no limit) or more"
}

func (f countFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return strconv.Itoa(*f.n)
}

func (f countFlag) Type() string { return "int" }

func (f countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a whole number, %s", f.wants)
	}
	*f.n = n
	return nil
}
