package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shown is a name or value of the store's as a table cell or a line of
// text shows it: itself when it is valid UTF-8 of printable characters,
// else Go-quoted ("b\xff\xfex", which bash reads back as $'b\xff\xfex').
// Thread ids, metadata and channel names are the program's data, and
// nothing keeps them printable: a 0xff byte is text/tabwriter's escape
// character (every later row of the table lost its alignment), a tab or
// a newline splits a cell or a row, and an escape sequence would reach
// the operator's terminal.
func shown(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return strconv.Quote(s)
}

// shownAll is shown for each of names.
func shownAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = shown(n)
	}
	return out
}
