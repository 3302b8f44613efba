package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the ckpt version, file format, Go version and platform",
		Args:  argsBetween(0, 0),
		RunE: func(c *cobra.Command, args []string) error {
			v := buildVersion()
			if a.asJSON {
				return a.printJSON(v)
			}
			_, err := fmt.Fprint(a.out, v.text())
			return err
		},
	}
	a.addJSON(c)
	return c
}

type versionInfo struct {
	// Version is the module version of the ckpt library the binary was
	// built with (v1.2.3 from 'go install ...@v1.2.3'); a build from a
	// clone says "(devel)" and adds the commit when Go recorded it.
	Version string `json:"version"`
	Format  int    `json:"format"`
	Go      string `json:"go"`
	// GOOS and GOARCH are the platform the binary was built for, as the
	// text's last line and 'go version' show them.
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
}

// text is what 'ckpt version' and 'ckpt --version' print.
func (v versionInfo) text() string {
	return fmt.Sprintf("ckpt %s\nfile format %d\n%s %s/%s\n", v.Version, v.Format, v.Go, v.GOOS, v.GOARCH)
}

func buildVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", Format: ckpt.FormatVersion, Go: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Version = bi.Main.Version
	// The command is its own module since the split; the library's version
	// is what says which store the binary carries.
	for _, dep := range bi.Deps {
		if dep.Path == "github.com/ckpt-go/ckpt" {
			v.Version = dep.Version
			if dep.Replace != nil {
				v.Version = "(devel)"
			}
		}
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v.Version += " (commit " + rev + dirty + ")"
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}
