package main

import (
	"context"
	"errors"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// openDetail is what an error from opening path says beyond "not a ckpt
// store": the library's prefixes and the path it repeats are cut, so the
// path appears once in the line.
func openDetail(path string, err error) string {
	d := strings.NewReplacer(
		"ckpt: ", "",
		"open "+path+": ", "",
		"recover "+path+": ", "",
		ckpt.ErrCorrupt.Error()[len("ckpt: "):]+": ", "",
		path+" is not a readable ckpt/bbolt file: ", "",
	).Replace(err.Error())
	// "PATH: not a ckpt file (bbolt: WHY)": the caller has said both.
	if inner, ok := strings.CutPrefix(d, path+": not a ckpt file ("); ok && strings.HasSuffix(inner, ")") {
		return strings.TrimSuffix(inner, ")")
	}
	return d
}

// resolveUsage makes a malformed or ambiguous id (ErrInvalidConfig from
// ResolveID) a usage mistake: the person typing it must give more of it.
func resolveUsage(err error) error {
	if errors.Is(err, ckpt.ErrInvalidConfig) && !errors.Is(err, context.Canceled) {
		// The sentinel's words are the library's; the message says what
		// is wrong with the id.
		return usageError{strings.Replace(err.Error(), ckpt.ErrInvalidConfig.Error()+": ", "", 1)}
	}
	return err
}

// failedWords is what the library's ErrFailed says, as oneLine prints it:
// its advice, reopen, is a program's; a command ends (failedAdvice).
var failedWords = strings.TrimPrefix(ckpt.ErrFailed.Error(), "ckpt: ")

// damageFailedWords is what the library says in ErrFailed's place when
// damage its checks found failed the store (internal/engine/failstop.go's
// errFailedOnDamage; TestFailedAdviceOnDamage pins them).
const damageFailedWords = "store failed on damage found in its file; reopen it"

// failedAfter is the error of a command that succeeded and whose store
// then failed (closeStore): msg says so; it wraps the Close's error, so
// that errors.Is finds ckpt.ErrFailed and its cause.
type failedAfter struct {
	msg string
	err error
}

func (e failedAfter) Error() string { return e.msg }
func (e failedAfter) Unwrap() error { return e.err }

// failureCause is what failed the store, from an error wrapping
// ckpt.ErrFailed: the text after ErrFailed's own words.
func failureCause(err error) string {
	msg := strings.ReplaceAll(err.Error(), "ckpt: ", "")
	for _, w := range []string{failedWords, damageFailedWords} {
		if _, cause, ok := strings.Cut(msg, w+": "); ok {
			return cause
		}
	}
	return msg
}

// failedAdvice is the one line of an error that wraps ckpt.ErrFailed in
// the command's words: without the library's advice to reopen the store,
// and with what to run on the file.
func failedAdvice(msg, file string) string {
	damage := strings.Contains(msg, damageFailedWords)
	msg = strings.ReplaceAll(msg, failedWords, "the store failed after an I/O error")
	msg = strings.ReplaceAll(msg, damageFailedWords, "the store failed on damage found in its file")
	if file != "" && !strings.Contains(msg, "ckpt verify") {
		if damage {
			msg += "; run 'ckpt verify " + file + "'"
		} else {
			msg += "; check the disk, then run 'ckpt verify " + file + "'"
		}
	}
	return msg
}
