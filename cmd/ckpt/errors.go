package main

import (
	"context"
	"errors"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
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
// errFailedOnDamage; TestFailedAdviceOnDamage pins them): its advice is a
// program's (Export with SkipDamaged); the command says what to run.
var damageFailedWords = "store failed on damage found in its file; " + engine.DamagedFileAdvice

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
// and with what to run on the file. err is the error msg says, looked at
// for a file moved under the store (movedAdvice).
func failedAdvice(msg, file string, err error) string {
	if moved, ok := errors.AsType[*engine.MovedError](err); ok && strings.Contains(msg, moved.Error()) {
		return movedAdvice(msg, file, moved)
	}
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

// movedAdvice is failedAdvice for a store stopped because another program
// removed or renamed its file or its log while the command ran
// (internal/engine/held_files.go). Nothing failed on the disk, so disk
// advice sends the operator the wrong way; and the library's advice is a
// program's, which still holds the store (Close it, Export from it): the
// command has ended, its store closed. What keeps the writes acknowledged
// before depends on what moved: the log's were applied to the file by the
// command's Close; the file's are in the file at its new name, or gone
// with it if it was removed.
func movedAdvice(msg, file string, moved *engine.MovedError) string {
	if file == "" {
		file = moved.Path
	}
	msg = strings.Replace(msg, moved.Error(), moved.What(), 1)
	if moved.Overwritten() && !moved.Log {
		// At its path still, with the bytes copied over it; the store
		// wrote nothing more into it, and its Close kept the log.
		msg += "; nothing failed on the disk: " + file + " holds the bytes copied over it"
		if moved.LogPath != "" {
			msg += "; " + moved.LogPath + " keeps the writes acknowledged and not yet in the file: the next command that opens " + file +
				" replays them if the copy is an older one of this store, and refuses them otherwise ('ckpt recover " + file + "' then opens the copy without them)"
		}
		return msg
	}
	if moved.Log {
		return msg + "; nothing failed on the disk: the writes acknowledged before are in " + file +
			" (closing the store put them there); run 'ckpt verify " + file + "'"
	}
	return msg + "; nothing failed on the disk: if the file was renamed, it holds the writes acknowledged before: move it back to " + file +
		", then run 'ckpt verify " + file + "'; if it was removed, it is gone now that the command has ended (restore " + file + " from a backup)"
}
