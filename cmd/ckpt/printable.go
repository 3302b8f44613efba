package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names (thread ids, namespaces, channel names) are bytes, and nothing
// keeps them printable or even UTF-8. What the commands print of one,
// they take back: a name printed in double quotes is Go-quoted
// ("b\xff\xfex"), and an argument or flag value in that form (quotedName)
// names the bytes it quotes. So that the form never means two names, a
// name that itself reads as a Go-quoted string is printed quoted too
// ("\"q\\xff\"").

// shown is a name or value of the store's as a table cell or a line of
// text shows it: itself when it is valid UTF-8 of printable characters,
// else Go-quoted ("b\xff\xfex", which bash reads back as $'b\xff\xfex',
// and the commands as it is: nameArg). Thread ids, metadata and channel
// names are the program's data, and nothing keeps them printable: a 0xff
// byte is text/tabwriter's escape character (every later row of the
// table lost its alignment), a tab or a newline splits a cell or a row,
// and an escape sequence would reach the operator's terminal.
func shown(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) && !quotedName(s) {
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

// quotedName reports whether s is a Go-quoted string, the form a name
// is printed in when it is not printable (shown) or not UTF-8 (jsonName).
func quotedName(s string) bool {
	if len(s) < 2 || s[0] != '"' {
		return false
	}
	_, err := strconv.Unquote(s)
	return err == nil
}

// jsonName is a name as --json prints it: a JSON string holds any UTF-8
// (escaped), but a name that is not UTF-8 came out with U+FFFD in place
// of its bytes, a name no command could be given back. That one, and one
// that reads as a quoted name, is printed Go-quoted.
func jsonName(s string) string {
	if utf8.ValidString(s) && !quotedName(s) {
		return s
	}
	return strconv.Quote(s)
}

// jsonNames is jsonName for each of names.
func jsonNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = jsonName(n)
	}
	return out
}

// nameArg is the name a command's argument or flag value gives: the
// bytes a Go-quoted one quotes (as shown and jsonName print it), else the
// argument itself.
func nameArg(s string) string {
	if quotedName(s) {
		u, _ := strconv.Unquote(s)
		return u
	}
	return s
}

// nameValue is a flag that takes a name (--ns, --channel, --prefix), in
// the printed form too (nameArg).
type nameValue string

func (v *nameValue) Set(s string) error { *v = nameValue(nameArg(s)); return nil }
func (v *nameValue) String() string     { return string(*v) }
func (v *nameValue) Type() string       { return "string" }
