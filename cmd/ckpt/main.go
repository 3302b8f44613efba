// Command ckpt runs a crash-and-resume demo of the ckpt store and lets an
// operator look into a store file without writing Go: list threads, show a
// thread's history and one checkpoint, compare two checkpoints, verify the
// file, measure it, prune old history and compact the file, copy, delete,
// back up, export and import threads, repair a damaged log and re-seal an
// encrypted store.
//
// Every command prints one line on stderr and exits non-zero when it
// fails: 1 for an error (or problems found by verify), 2 for bad usage,
// 130 when Ctrl-C or SIGTERM stopped it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitInterrupted is what a shell reports for a process killed by
	// SIGINT (128+2): a command that stopped on Ctrl-C says so the same way.
	exitInterrupted = 130
)

// commands holds the constructors of the subcommands; each command's file
// registers its own in init, so adding one is adding one file.
var commands []func(a *app) *cobra.Command

func register(newCmd func(a *app) *cobra.Command) { commands = append(commands, newCmd) }

// usageError is a malformed command line: wrong arguments or flags.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// interruptedError ends a command that stopped because SIGINT or SIGTERM
// arrived; msg says what state it left the file in.
type interruptedError struct{ msg string }

func (e interruptedError) Error() string { return e.msg }

// silentError ends the command with exitError after the command itself
// has reported what went wrong (verify's report).
var errSilent = errors.New("reported")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	// A damaged file can make bbolt read a bad address; with this the fault
	// is a panic we can turn into one line, not a crash with a stack trace.
	debug.SetPanicOnFault(true)
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "ckpt: failed while reading the file (damaged or truncated?): %v\n", p)
			code = exitError
		}
	}()
	// Ctrl-C and SIGTERM cancel the context every command runs with: the
	// library stops at its next check and undoes or finishes cleanly what
	// it started, instead of the process dying in the middle of a write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := newApp(stdin, stdout, stderr)
	a.ctx = ctx
	root := a.rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ie interruptedError
	if errors.As(err, &ie) || ctx.Err() != nil {
		if ie.msg == "" {
			ie.msg = "interrupted"
		}
		fmt.Fprintln(stderr, "ckpt: "+ie.msg)
		return exitInterrupted
	}
	if errors.Is(err, errSilent) {
		return exitError
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		// Point to the help of the command that was mistyped (the root's
		// for an unknown command).
		help := "ckpt"
		if cmd != nil && cmd.Name() != "help" { // 'ckpt help nope': the root's
			help = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "%s (see '%s --help')\n", oneLine(err), help)
		return exitUsage
	}
	msg := oneLine(err)
	if file := fileArg(cmd); file != "" && damagedFile(cmd, err) && !strings.Contains(msg, "ckpt verify") {
		// The record is named; what to do about the file is not (unless
		// the command said it, as backup does).
		msg += "; the file is damaged: 'ckpt verify " + file + "' lists every damaged record"
	}
	if errors.Is(err, ckpt.ErrFailed) {
		msg = failedAdvice(msg, fileArg(cmd), err)
	}
	if errors.Is(err, ckpt.ErrKey) && !strings.Contains(msg, "--key-file") {
		// The library says which key is missing or wrong; the command
		// says how to give it, or which file gave the wrong one.
		if wrong := a.wrongKey(err); wrong != "" {
			msg += "; " + wrong
		} else {
			msg += " (give the store's key files with --key-file; see 'ckpt --help')"
		}
	}
	fmt.Fprintln(stderr, msg)
	return exitError
}

// isCobraUsageError recognises the errors cobra returns for an unknown
// command before any of ours runs.
func isCobraUsageError(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "unknown shorthand flag")
}

// oneLine turns an error into the one line the command prints: "ckpt: "
// once in front, the inner "ckpt: " prefixes of wrapped errors removed,
// cobra's suggestions kept as "; did you mean log?", and joined errors on
// one line.
func oneLine(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\n\nDid you mean this?"); i >= 0 {
		msg = msg[:i] + "; did you mean " + strings.Join(strings.Fields(msg[i+len("\n\nDid you mean this?"):]), " or ") + "?"
	}
	msg = strings.ReplaceAll(msg, "ckpt: ", "")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	return "ckpt: " + msg
}

// damagedFile reports whether err is damage a command met reading the
// store after it opened (an error opening it says what it found itself,
// and verify, recover and import's dump errors are about other things).
func damagedFile(cmd *cobra.Command, err error) bool {
	switch cmd.Name() {
	case "verify", "recover", "import":
		return false
	}
	return errors.Is(err, ckpt.ErrCorrupt) && !strings.Contains(err.Error(), "ckpt recover")
}

// fileArg is the store file a command was given: demo's --db, or the
// first argument.
func fileArg(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	if f := cmd.Flags().Lookup("db"); f != nil {
		return f.Value.String()
	}
	if args := cmd.Flags().Args(); len(args) > 0 {
		return args[0]
	}
	return ""
}
