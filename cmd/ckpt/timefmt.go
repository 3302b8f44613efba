package main

import "time"

// timeLayout is the one time format of every command: RFC 3339 with
// milliseconds and the zone offset, so a time means the same thing in
// every command and on every machine ("2026-11-28T20:51:23.089+01:00").
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// when puts t in the zone the output uses: local, or UTC with --utc.
func (a *app) when(t time.Time) time.Time {
	if a.utc {
		return t.UTC()
	}
	return t.Local()
}

// fmtTime formats t for a table.
func (a *app) fmtTime(t time.Time) string { return a.when(t).Format(timeLayout) }
