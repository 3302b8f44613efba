package main

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/fatih/color"
	"github.com/spf13/cobra"
)

func init() { register(newDiffCmd) }

func newDiffCmd(a *app) *cobra.Command {
	var ns, colorMode string
	c := &cobra.Command{
		Use: "diff FILE THREAD ID_A ID_B",
		Long: `diff compares two checkpoints of a thread (ids, or enough of their start
to name them): channels added, removed and changed; for a list channel
that grew, the items appended; and metadata differences. Colour on a
terminal (--color), plain otherwise; --json for scripts.`,
		Short: "Compare two checkpoints: channels added, removed, changed (list items appended) and metadata",
		Args:  argsBetween(4, 4),
		RunE: func(c *cobra.Command, args []string) (err error) {
			useColor, err := a.colorWanted(colorMode)
			if err != nil {
				return err
			}
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
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
			d, err := diffTuples(ts[0], ts[1])
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.emitJSON(d)
			}
			d.print(a.out, useColor)
			return nil
		},
	}
	c.Flags().StringVar(&ns, "ns", "", "checkpoint namespace")
	c.Flags().StringVar(&colorMode, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
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

type checkpointRef struct {
	ID   string `json:"id"`
	Step any    `json:"step"`
	Node any    `json:"node"`
}

type channelChange struct {
	Channel     string `json:"channel"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version"`
	// Appended holds the items added at the end of a list channel; From
	// and To are set when the change is not an append.
	Appended []any `json:"appended,omitempty"`
	From     any   `json:"from,omitempty"`
	To       any   `json:"to,omitempty"`
}

type valueChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

type checkpointDiff struct {
	Thread string        `json:"thread"`
	NS     string        `json:"ns"`
	From   checkpointRef `json:"from"`
	To     checkpointRef `json:"to"`

	Added     map[string]any  `json:"added"`
	Removed   map[string]any  `json:"removed"`
	Changed   []channelChange `json:"changed"`
	Unchanged []string        `json:"unchanged"`

	MetadataAdded   map[string]any         `json:"metadata_added"`
	MetadataRemoved map[string]any         `json:"metadata_removed"`
	MetadataChanged map[string]valueChange `json:"metadata_changed"`
}

func diffTuples(a, b *ckpt.Tuple) (*checkpointDiff, error) {
	d := &checkpointDiff{Thread: a.Config.ThreadID, NS: a.Config.CheckpointNS,
		From:  checkpointRef{a.Config.CheckpointID, a.Metadata["step"], a.Metadata["node"]},
		To:    checkpointRef{b.Config.CheckpointID, b.Metadata["step"], b.Metadata["node"]},
		Added: map[string]any{}, Removed: map[string]any{}, Changed: []channelChange{}, Unchanged: []string{},
		MetadataAdded: map[string]any{}, MetadataRemoved: map[string]any{}, MetadataChanged: map[string]valueChange{}}
	av, bv := a.Checkpoint.ChannelValues, b.Checkpoint.ChannelValues
	decode := func(t *ckpt.Tuple, ch string) (any, error) {
		raw, _ := t.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		v, err := jsonValue(raw)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s channel %q: %w", t.Config.CheckpointID, ch, err)
		}
		return v, nil
	}
	for _, ch := range sortedKeys(av) {
		if _, ok := bv[ch]; !ok {
			v, err := decode(a, ch)
			if err != nil {
				return nil, err
			}
			d.Removed[ch] = v
		}
	}
	for _, ch := range sortedKeys(bv) {
		bRaw, _ := bv[ch].(ckpt.Raw)
		aVal, inA := av[ch]
		if !inA {
			v, err := decode(b, ch)
			if err != nil {
				return nil, err
			}
			d.Added[ch] = v
			continue
		}
		if aRaw, _ := aVal.(ckpt.Raw); bytes.Equal(aRaw, bRaw) {
			d.Unchanged = append(d.Unchanged, ch)
			continue
		}
		from, err := decode(a, ch)
		if err != nil {
			return nil, err
		}
		to, err := decode(b, ch)
		if err != nil {
			return nil, err
		}
		c := channelChange{Channel: ch, FromVersion: a.Checkpoint.ChannelVersions[ch], ToVersion: b.Checkpoint.ChannelVersions[ch]}
		fl, fok := from.([]any)
		tl, tok := to.([]any)
		if fok && tok && len(tl) > len(fl) && reflect.DeepEqual(fl, tl[:len(fl)]) {
			c.Appended = tl[len(fl):]
		} else {
			c.From, c.To = from, to
		}
		d.Changed = append(d.Changed, c)
	}
	am, bm := jsonable(map[string]any(a.Metadata)).(map[string]any), jsonable(map[string]any(b.Metadata)).(map[string]any)
	for _, k := range sortedKeys(am) {
		if _, ok := bm[k]; !ok {
			d.MetadataRemoved[k] = am[k]
		}
	}
	for _, k := range sortedKeys(bm) {
		v, ok := am[k]
		switch {
		case !ok:
			d.MetadataAdded[k] = bm[k]
		case !reflect.DeepEqual(v, bm[k]):
			d.MetadataChanged[k] = valueChange{v, bm[k]}
		}
	}
	return d, nil
}

func (d *checkpointDiff) print(w io.Writer, useColor bool) {
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
	fmt.Fprintf(w, "thread %s%s\nfrom %s\n  to %s\n", d.Thread, nsSuffix(d.NS), ref(d.From), ref(d.To))
	fmt.Fprintln(w, "channels:")
	if len(d.Added)+len(d.Removed)+len(d.Changed) == 0 {
		fmt.Fprintln(w, "  (no channel changed)")
	}
	for _, ch := range sortedKeys(d.Added) {
		line(w, add, "+ %s = %s", ch, compactJSON(d.Added[ch]))
	}
	for _, ch := range sortedKeys(d.Removed) {
		line(w, del, "- %s (was %s)", ch, compactJSON(d.Removed[ch]))
	}
	for _, c := range d.Changed {
		if c.Appended != nil {
			line(w, chg, "~ %s: %d item(s) appended (version %s -> %s)", c.Channel, len(c.Appended), c.FromVersion, c.ToVersion)
			for _, it := range c.Appended {
				line(w, add, "    + %s", compactJSON(it))
			}
			continue
		}
		line(w, chg, "~ %s (version %s -> %s)", c.Channel, c.FromVersion, c.ToVersion)
		line(w, del, "    - %s", compactJSON(c.From))
		line(w, add, "    + %s", compactJSON(c.To))
	}
	if len(d.Unchanged) > 0 {
		line(w, dim, "  unchanged: %s", strings.Join(d.Unchanged, ", "))
	}
	fmt.Fprintln(w, "metadata:")
	if len(d.MetadataAdded)+len(d.MetadataRemoved)+len(d.MetadataChanged) == 0 {
		fmt.Fprintln(w, "  (no difference)")
	}
	for _, k := range sortedKeys(d.MetadataAdded) {
		line(w, add, "+ %s = %s", k, compactJSON(d.MetadataAdded[k]))
	}
	for _, k := range sortedKeys(d.MetadataRemoved) {
		line(w, del, "- %s (was %s)", k, compactJSON(d.MetadataRemoved[k]))
	}
	for _, k := range sortedKeys(d.MetadataChanged) {
		c := d.MetadataChanged[k]
		line(w, chg, "~ %s: %s -> %s", k, compactJSON(c.From), compactJSON(c.To))
	}
}

func nsSuffix(ns string) string {
	if ns == "" {
		return ""
	}
	return " namespace " + ns
}

// line prints one coloured line, the reset code before the newline.
func line(w io.Writer, c *color.Color, format string, args ...any) {
	c.Fprintf(w, format, args...)
	fmt.Fprintln(w)
}
