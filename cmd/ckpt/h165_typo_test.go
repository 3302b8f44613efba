package main

import "testing"

// A mistyped shell for completion, or topic for help, is a usage mistake
// like a mistyped command (exit 2, one line, nothing on stdout). Both
// exited 0: completion printed its help on stdout, which
// 'source <(ckpt completion bsh)' gave the shell to run, and help printed
// "Unknown help topic" and the usage.
func TestH165MistypedCompletionShellAndHelpTopicAreUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"completion", "bsh"}, `ckpt: unknown shell "bsh" for completion: want bash, zsh, fish or powershell (see 'ckpt completion --help')`},
		{[]string{"help", "thread"}, `ckpt: unknown command "thread" for "ckpt"; did you mean threads? (see 'ckpt --help')`},
		{[]string{"help", "nope"}, `ckpt: unknown command "nope" for "ckpt" (see 'ckpt --help')`},
	} {
		r := runIn(t, dir, "", c.args...)
		failsWith(t, r, exitUsage, c.want)
		if r.stdout != "" {
			t.Fatalf("want nothing on stdout:\n%s", r)
		}
	}
	// As ever: a shell named right, and help on a command.
	ok(t, dir, "completion", "bash")
	ok(t, dir, "help", "threads")
}
