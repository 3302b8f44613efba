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
