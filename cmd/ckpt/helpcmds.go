package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageHelpCommands makes a mistyped shell for completion, or topic for
// help, the usage mistake a mistyped command is (exit 2, one line):
// cobra's completion printed its help on stdout and exited 0, which
// 'source <(ckpt completion bsh)' gave the shell to run, and its help
// printed "Unknown help topic" and exited 0 as well.
func usageHelpCommands(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Args = func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Sprintf("unknown shell %q for completion: want bash, zsh, fish or powershell", args[0])}
			}
			return nil
		}
		// Runnable, so that cobra checks the arguments (it answers a
		// command that is not with its help, before any check).
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "help prints the help of a command: 'ckpt help threads' is 'ckpt threads --help'.",
		ValidArgsFunction: func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range c.Root().Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return err // "unknown command ...", with cobra's suggestion
			}
			return cmd.Help()
		},
	})
}
