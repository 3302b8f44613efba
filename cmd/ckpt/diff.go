package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/human"
	"github.com/ckpt-go/ckpt/web"
	"github.com/fatih/color"
	"github.com/spf13/cobra"
)

func init() { register(newDiffCmd) }

func newDiffCmd(a *app) *cobra.Command {
	var ns, colorMode string
	var full bool
	c := &cobra.Command{
		Use: "diff FILE THREAD ID_A ID_B",
		Long: `diff compares two checkpoints of a thread (ids, or enough of their start
to name them): channels added, removed and changed; for a list channel
that grew, the items appended; and metadata differences. Long values are cut to
their first 240 bytes and the items appended to their first 200, as the
history browser's diff page cuts them; --full prints them all, whole.
Colour on a terminal (--color), plain otherwise; --json for scripts
(whole).`,
		Short: "Compare two checkpoints: channels and metadata",
		Args:  threadsAt(argsBetween(4, 4), 1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			useColor, err := a.colorWanted(colorMode)
			if err != nil {
				return err
			}
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			var ts [2]*ckpt.Tuple
			for i, id := range args[2:] {
				cfg := ckpt.Config{ThreadID: args[1], CheckpointNS: ns}
				if cfg.CheckpointID, err = resolveID(c.Context(), s, args[0], cfg, id); err != nil {
					return err
				}
				if ts[i], err = getTuple(c.Context(), s, args[0], cfg); err != nil {
					return err
				}
			}
			d, err := web.DiffTuples(ts[0], ts[1])
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.emitJSON(jsonDiff(d))
			}
			printDiff(a.out, d, useColor, full)
			return nil
		},
	}
	c.Flags().Var((*nameValue)(&ns), "ns", "checkpoint namespace")
	c.Flags().StringVar(&colorMode, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
	c.Flags().BoolVar(&full, "full", false, "print every item appended and every value whole (not cut)")
	a.addJSON(c)
	return c
}

func (a *app) colorWanted(mode string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		return a.stdoutIsTerminal() && !color.NoColor, nil
	}
	return false, usageError{fmt.Sprintf("--color %q: want auto, always or never", mode)}
}

// The diff itself is computed by web.DiffTuples, so this command and the
// history browser's diff page show the same thing.
type (
	checkpointDiff = web.Diff
	checkpointRef  = web.CheckpointRef
)

func printDiff(w io.Writer, d *checkpointDiff, useColor, full bool) {
	paint := func(attr color.Attribute) *color.Color {
		c := color.New(attr)
		if useColor {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	add, del, chg, dim := paint(color.FgGreen), paint(color.FgRed), paint(color.FgYellow), paint(color.Faint)
	ref := func(r checkpointRef) string { return fmt.Sprintf("%s (step %s, %s)", r.ID, show(r.Step), show(r.Node)) }
	fmt.Fprintf(w, "thread %s%s\nfrom %s\n  to %s\n", shown(d.Thread), nsSuffix(d.NS), ref(d.From), ref(d.To))
	fmt.Fprintln(w, "channels:")
	if len(d.Added)+len(d.Removed)+len(d.Changed) == 0 {
		fmt.Fprintln(w, "  (no channel changed)")
	}
	cut := clipper{full: full}
	for _, ch := range sortedKeys(d.Added) {
		line(w, add, "+ %s = %s", shown(ch), cut.one(compactJSON(d.Added[ch])))
	}
	for _, ch := range sortedKeys(d.Removed) {
		line(w, del, "- %s (was %s)", shown(ch), cut.one(compactJSON(d.Removed[ch])))
	}
	for _, c := range d.Changed {
		if c.Appended != nil {
			items := "items"
			if len(c.Appended) == 1 {
				items = "item"
			}
			line(w, chg, "~ %s: %s %s appended (version %s -> %s)", shown(c.Channel), human.Grouped(len(c.Appended)), items, shown(c.FromVersion), shown(c.ToVersion))
			for i, it := range c.Appended {
				if i == diffItemsMax && !full {
					more := "items"
					if len(c.Appended)-i == 1 {
						more = "item"
					}
					line(w, dim, "    … %s more %s not printed (--full prints every item, --json too)", human.Grouped(len(c.Appended)-i), more)
					break
				}
				line(w, add, "    + %s", cut.one(compactJSON(it)))
			}
			continue
		}
		from, to := cut.pair(compactJSON(c.From), compactJSON(c.To))
		line(w, chg, "~ %s (version %s -> %s)", shown(c.Channel), shown(c.FromVersion), shown(c.ToVersion))
		line(w, del, "    - %s", from)
		line(w, add, "    + %s", to)
	}
	if len(d.Unchanged) > 0 {
		line(w, dim, "  unchanged: %s", strings.Join(shownAll(d.Unchanged), ", "))
	}
	fmt.Fprintln(w, "metadata:")
	if len(d.MetadataAdded)+len(d.MetadataRemoved)+len(d.MetadataChanged) == 0 {
		fmt.Fprintln(w, "  (no difference)")
	}
	for _, k := range sortedKeys(d.MetadataAdded) {
		line(w, add, "+ %s = %s", shown(k), cut.one(compactJSON(d.MetadataAdded[k])))
	}
	for _, k := range sortedKeys(d.MetadataRemoved) {
		line(w, del, "- %s (was %s)", shown(k), cut.one(compactJSON(d.MetadataRemoved[k])))
	}
	for _, k := range sortedKeys(d.MetadataChanged) {
		c := d.MetadataChanged[k]
		from, to := cut.pair(compactJSON(c.From), compactJSON(c.To))
		line(w, chg, "~ %s: %s -> %s", shown(k), from, to)
	}
	if cut.any {
		line(w, dim, "(values longer than %d bytes are cut: --full or --json prints them whole)", diffValueMax)
	}
}

// diffValueMax is the most of one value diff prints: a state channel can
// be a whole document, and a diff line of megabytes helps nobody.
const diffValueMax = 240

// diffItemsMax is how many of the items appended to a list diff prints:
// a list that grew by 100,000 items was 100,000 lines. The history
// browser's diff page draws as many (human.Items).
const diffItemsMax = human.Items

// clipper cuts long values for the diff and remembers that it did; with
// full it cuts none.
type clipper struct{ any, full bool }

// one cuts v after diffValueMax bytes and says its whole size.
func (c *clipper) one(v string) string {
	if c.full || len(v) <= diffValueMax {
		return v
	}
	c.any = true
	return v[:runeStart(v, diffValueMax)] + fmt.Sprintf("… (%s in all)", humanBytes(int64(len(v))))
}

// pair cuts the two sides of a change alike, starting shortly before
// their first difference, so the change is in what is shown.
func (c *clipper) pair(a, b string) (string, string) {
	if c.full || len(a) <= diffValueMax && len(b) <= diffValueMax {
		return a, b
	}
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	from := 0
	if p > diffValueMax/2 {
		from = runeStart(a, p-diffValueMax/4) // a and b agree up to p
	}
	side := func(v string) string {
		if from == 0 {
			return c.one(v)
		}
		c.any = true
		rest := v[from:]
		if len(rest) > diffValueMax {
			rest = rest[:runeStart(rest, diffValueMax)] + "…"
		}
		return "…" + rest + fmt.Sprintf(" (%s in all)", humanBytes(int64(len(v))))
	}
	return side(a), side(b)
}

// runeStart backs i up to the start of the UTF-8 sequence it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

func nsSuffix(ns string) string {
	if ns == "" {
		return ""
	}
	return " namespace " + shown(ns)
}

// line prints one coloured line, the reset code before the newline.
func line(w io.Writer, c *color.Color, format string, args ...any) {
	c.Fprintf(w, format, args...)
	fmt.Fprintln(w)
}

// jsonDiff is d with its names as --json prints them (jsonName): the
// library's Diff holds them as they are, for the browser's pages.
func jsonDiff(d *web.Diff) *web.Diff {
	j := *d
	j.Thread, j.NS = jsonName(d.Thread), jsonName(d.NS)
	j.Added, j.Removed = jsonKeys(d.Added), jsonKeys(d.Removed)
	j.Changed = make([]web.ChannelChange, len(d.Changed))
	for i, c := range d.Changed {
		c.Channel = jsonName(c.Channel)
		j.Changed[i] = c
	}
	j.Unchanged = jsonNames(d.Unchanged)
	return &j
}

// jsonKeys is m with its keys, channel names, as jsonName prints them.
func jsonKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[jsonName(k)] = v
	}
	return out
}
