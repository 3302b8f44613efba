package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newLogCmd) }

func newLogCmd(a *app) *cobra.Command {
	var ns string
	var limit int
	var filters []string
	c := &cobra.Command{
		Use:   "log FILE THREAD",
		Short: "History of a thread, newest first, one checkpoint a line",
		Long: `log prints the checkpoints of THREAD, newest first, one a line: id,
time, step, source, node and route (from the metadata), the channels that
changed since the parent (-NAME: a channel the parent had and this
checkpoint has not), the number of pending writes and the run_id.
--limit, --ns and --filter narrow it; --json prints the same as JSON.`,
		Args: threadsAt(argsBetween(2, 2), 1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			if limit < 0 {
				return usageError{fmt.Sprintf("--limit %d: must be 0 (no limit) or more", limit)}
			}
			filter, err := parseFilter(filters)
			if err != nil {
				return err
			}
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			opts := ckpt.ListOptions{ThreadID: args[1], Limit: limit, Filter: filter}
			if c.Flags().Changed("ns") {
				opts.Namespace = ckpt.NS(ns)
			}
			if err := requireThread(c.Context(), s, args[0], args[1]); err != nil {
				return err
			}
			if opts.Namespace != nil {
				if err := requireNamespace(c.Context(), s, args[0], args[1], ns); err != nil {
					return err
				}
			}
			return a.printLog(c.Context(), s, opts)
		},
	}
	c.Flags().Var((*nameValue)(&ns), "ns", "only this checkpoint namespace (default: all)")
	c.Flags().Var(countFlag{&limit, "0 (no limit) or more"}, "limit", "at most N checkpoints (0: all)")
	c.Flags().StringArrayVar(&filters, "filter", nil, "only checkpoints whose metadata has key=value[, key=value ...] (repeatable)")
	a.addJSON(c)
	return c
}

// requireThread fails with ErrNotFound when the file has no such thread,
// said in the user's words (the sentinel's "not found" ended the line)
// and where the threads are listed, as missingID says a missing id.
func requireThread(ctx context.Context, s *ckpt.Store, file, thread string) error {
	for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Limit: 1}) {
		return err
	}
	return textError{fmt.Sprintf("%s has no thread %q ('ckpt threads' lists its threads)", file, thread), ckpt.ErrNotFound}
}

// requireNamespace fails with ErrNotFound, naming the namespaces the
// thread has, when it has no checkpoint in ns: a mistyped --ns is an
// error, as it is for show, not an empty history.
func requireNamespace(ctx context.Context, s *ckpt.Store, file, thread, ns string) error {
	for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Namespace: ckpt.NS(ns), Limit: 1}) {
		return err
	}
	return notFoundIn(ctx, s, file, ckpt.Config{ThreadID: thread, CheckpointNS: ns}, "",
		fmt.Errorf("%w: no checkpoint of thread %q in namespace %s", ckpt.ErrNotFound, thread, nsLabel(ns)))
}

// logEntry is one line of the log. In JSON a value the checkpoint lacks
// (no parent, a metadata key not there) is left out, never null; a value
// there is printed even when zero (step 0, source "").
type logEntry struct {
	ID      string    `json:"id"`
	NS      string    `json:"ns"`
	Time    time.Time `json:"time"`
	Parent  string    `json:"parent,omitempty"`
	Step    any       `json:"step,omitempty"` // nil only when absent: step 0 stays
	Source  any       `json:"source,omitempty"`
	Node    any       `json:"node,omitempty"`
	Route   any       `json:"route,omitempty"`
	Reason  any       `json:"reason,omitempty"`
	RunID   any       `json:"run_id,omitempty"`
	Changed []string  `json:"changed"`
	Writes  int       `json:"pending_writes"`
}

func (a *app) printLog(ctx context.Context, s *ckpt.Store, opts ckpt.ListOptions) error {
	out, flush := a.bufferedOut()
	var rows []logEntry
	first := true
	emit := func(t *ckpt.Tuple, parentVersions map[string]string) error {
		e := logEntry{ID: t.Config.CheckpointID, NS: t.Config.CheckpointNS, Time: a.when(t.Checkpoint.TS),
			Step: t.Metadata["step"], Source: t.Metadata["source"], Node: t.Metadata["node"],
			Route: t.Metadata["route"], Reason: t.Metadata["reason"], RunID: t.Metadata["run_id"],
			Changed: changedChannels(t.Checkpoint.ChannelVersions, parentVersions), Writes: len(t.PendingWrites)}
		if t.ParentConfig != nil {
			e.Parent = t.ParentConfig.CheckpointID
		}
		if !a.asJSON {
			rows = append(rows, e)
			return nil
		}
		sep := ",\n  "
		if first {
			sep, first = "[\n  ", false
		}
		e.NS, e.Changed = jsonName(e.NS), jsonNames(e.Changed)
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s%s", sep, b)
		return err
	}
	// List yields newest first, so a checkpoint's parent is usually the
	// next one yielded: hold one back until its parent is known.
	var held *ckpt.Tuple
	release := func(next *ckpt.Tuple) error {
		if held == nil {
			return nil
		}
		var pv map[string]string
		if p := held.ParentConfig; p != nil {
			if next != nil && next.Config.CheckpointID == p.CheckpointID && next.Config.CheckpointNS == p.CheckpointNS {
				pv = next.Checkpoint.ChannelVersions
			} else if pt, err := s.GetTuple(ctx, *p); err == nil {
				pv = pt.Checkpoint.ChannelVersions
			}
		}
		return emit(held, pv)
	}
	// fail ends a streamed array where it stopped: its first 64 KiB are
	// out already, and stdout cut in the middle of a string was no JSON.
	// It stays JSON, cut short (the exit status and stderr say why).
	fail := func(err error) error {
		if a.asJSON && !first {
			fmt.Fprint(out, "\n]\n")
			_ = flush()
		}
		return err
	}
	for t, err := range s.List(ctx, opts) {
		if err != nil {
			return fail(err)
		}
		if err := release(t); err != nil {
			return fail(err)
		}
		held = t
	}
	if err := release(nil); err != nil {
		return fail(err)
	}
	if a.asJSON {
		if first {
			fmt.Fprint(out, "[")
		}
		fmt.Fprint(out, "\n]\n")
		return flush()
	}
	if len(rows) == 0 {
		// A bare header reads like a broken table: say it in words.
		fmt.Fprintln(out, noCheckpoints(opts))
		return flush()
	}
	showNS := slices.ContainsFunc(rows, func(e logEntry) bool { return e.NS != "" })
	tw := a.tableOn(out)
	header := "ID\tTIME\tSTEP\tSOURCE\tNODE\tROUTE\tCHANGED\tWRITES\tRUN"
	if showNS {
		header = "ID\tNS\tTIME\tSTEP\tSOURCE\tNODE\tROUTE\tCHANGED\tWRITES\tRUN"
	}
	fmt.Fprintln(tw, header)
	for _, e := range rows {
		ns := ""
		if showNS {
			ns = nsLabel(shown(e.NS)) + "\t"
		}
		changed := "-"
		if len(e.Changed) > 0 {
			changed = joinComma(shownAll(e.Changed))
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, ns, a.fmtTime(e.Time),
			show(e.Step), show(e.Source), show(e.Node), show(e.Route), changed, e.Writes, show(e.RunID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return flush()
}

// changedChannels lists the channels whose version differs from the
// parent's (all of them for a first checkpoint); a channel the parent had
// and this checkpoint has not is listed as "-name".
func changedChannels(cur, parent map[string]string) []string {
	out := []string{}
	for ch, v := range cur {
		if pv, ok := parent[ch]; !ok || pv != v {
			out = append(out, ch)
		}
	}
	for ch := range parent {
		if _, ok := cur[ch]; !ok {
			out = append(out, "-"+ch)
		}
	}
	sort.Strings(out)
	return out
}

func show(v any) string {
	if v == nil {
		return "-"
	}
	if s, ok := v.(string); ok {
		return shown(s)
	}
	return compactJSON(jsonable(v))
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// noCheckpoints says what a listing that found nothing looked for.
func noCheckpoints(opts ckpt.ListOptions) string {
	msg := fmt.Sprintf("no checkpoint of thread %q", opts.ThreadID)
	if opts.Namespace != nil {
		msg += " in namespace " + nsLabel(*opts.Namespace)
	}
	if len(opts.Filter) > 0 {
		var kv []string
		for _, k := range sortedKeys(opts.Filter) {
			kv = append(kv, k+"="+filterText(opts.Filter[k]))
		}
		msg += " with " + strings.Join(kv, ", ")
	}
	return msg
}
