package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newShowCmd) }

func newShowCmd(a *app) *cobra.Command {
	var ns, channel string
	c := &cobra.Command{
		Use: "show FILE THREAD [ID]",
		Long: `show prints one checkpoint (the newest, or ID: a checkpoint id or enough
of its start to name one) as JSON: its state, metadata, parent and pending
writes. --channel prints one channel's value only.`,
		Short: "One checkpoint (default: the newest) as JSON",
		Args:  threadsAt(argsBetween(2, 3), 1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			cfg := ckpt.Config{ThreadID: args[1], CheckpointNS: ns}
			if len(args) == 3 {
				if cfg.CheckpointID, err = resolveID(c.Context(), s, args[0], cfg, args[2]); err != nil {
					return err
				}
			}
			t, err := getTuple(c.Context(), s, args[0], cfg)
			if err != nil && c.Flags().Changed("channel") && errors.Is(err, ckpt.ErrCorrupt) {
				// The damage may be in another channel: say which one was
				// asked for, and that the checkpoint does not read whole.
				return fmt.Errorf("channel %q: the checkpoint does not read whole, so whether it has that channel is not known: %w", channel, err)
			}
			if err != nil {
				return err
			}
			if c.Flags().Changed("channel") {
				raw, ok := t.Checkpoint.ChannelValues[channel].(ckpt.Raw)
				if !ok {
					return missingChannel(args[0], t, channel)
				}
				v, err := jsonValue(raw)
				if err != nil {
					return fmt.Errorf("channel %q: %w", channel, err)
				}
				return a.emitJSON(v)
			}
			doc, err := showDoc(t)
			if doc != nil {
				doc.Time = a.when(doc.Time)
			}
			if err != nil {
				return err
			}
			return a.emitJSON(doc)
		},
	}
	c.Flags().Var((*nameValue)(&ns), "ns", "checkpoint namespace")
	c.Flags().Var((*nameValue)(&channel), "channel", "print only this channel's value")
	a.addJSON(c)
	// show prints JSON either way: "machine-readable" alone left a reader
	// wondering what the flag changes.
	c.Flags().Lookup("json").Usage = "print the JSON on one compact line (default: indented, for people)"
	return c
}

// getTuple reads one checkpoint and names the file in a not-found error.
func getTuple(ctx context.Context, s *ckpt.Store, file string, cfg ckpt.Config) (*ckpt.Tuple, error) {
	t, err := s.GetTuple(ctx, cfg)
	if errors.Is(err, ckpt.ErrNotFound) {
		return nil, notFoundIn(ctx, s, file, cfg, cfg.CheckpointID, err)
	}
	return t, err
}

// notFoundIn says a missing thread the way every command does (log's
// "FILE has no thread"), else names the file in err. For a checkpoint
// (id, or the start of one; "" for the newest) that cfg's namespace lacks,
// it says which namespace has it, or which namespaces the thread has, and
// how to reach it: `ckpt log` lists the checkpoints of every namespace, so
// ids get copied from a subgraph's rows without its --ns.
func notFoundIn(ctx context.Context, s *ckpt.Store, file string, cfg ckpt.Config, id string, err error) error {
	if terr := requireThread(ctx, s, file, cfg.ThreadID); errors.Is(terr, ckpt.ErrNotFound) {
		return terr
	}
	info, terr := s.Thread(ctx, cfg.ThreadID)
	if terr != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if id != "" {
		for _, ns := range info.Namespaces {
			if ns == cfg.CheckpointNS {
				continue
			}
			if _, rerr := s.ResolveID(ctx, cfg.ThreadID, ns, id); rerr == nil {
				flag := "add --ns " + ns
				if ns == "" {
					flag = "leave out --ns"
				}
				return fmt.Errorf("%s: %w (it is in namespace %q: %s)", file, err, ns, flag)
			}
		}
		if !slices.Contains(info.Namespaces, cfg.CheckpointNS) {
			// The --ns is the slip, not the id: say so, as show
			// without an id does below.
			return missingNamespace(file, cfg, info.Namespaces, err)
		}
		return missingID(file, cfg, id, err)
	}
	if !slices.Contains(info.Namespaces, cfg.CheckpointNS) {
		// As with an id above: the library's "not found: no checkpoint
		// in thread T namespace N" said the sentinel's words mid-line.
		return missingNamespace(file, cfg, info.Namespaces, err)
	}
	return fmt.Errorf("%s: %w", file, err)
}

// missingNamespace says that the thread has no checkpoint in cfg's
// namespace, and which namespaces it has. It wraps err (ErrNotFound).
func missingNamespace(file string, cfg ckpt.Config, namespaces []string, err error) error {
	return textError{fmt.Sprintf("%s: thread %q has no namespace %q (it has namespaces %s)", file, cfg.ThreadID, cfg.CheckpointNS, nsNames(namespaces)), err}
}

// missingChannel says that t, the checkpoint show read from file, has no
// channel named channel, and which it has; it wraps ErrNotFound (its
// words ended the line).
func missingChannel(file string, t *ckpt.Tuple, channel string) error {
	has := "it has none"
	if len(t.Checkpoint.ChannelValues) > 0 {
		has = "it has: " + strings.Join(sortedKeys(t.Checkpoint.ChannelValues), ", ")
	}
	return textError{fmt.Sprintf("%s: checkpoint %s of thread %q has no channel %q (%s)", file, t.Config.CheckpointID, t.Config.ThreadID, channel, has), ckpt.ErrNotFound}
}

// nsNames lists a thread's namespaces for a line, the root's as (root).
func nsNames(namespaces []string) string {
	names := make([]string, len(namespaces))
	for i, ns := range namespaces {
		names[i] = ns
		if ns == "" {
			names[i] = "(root)"
		}
	}
	return strings.Join(names, ", ")
}

// missingID says that no checkpoint of the thread (in any namespace) has
// id, or an id starting with it, as a missing thread is said: the
// library's "not found: no checkpoint id starting with ... in thread T
// namespace """ put the sentinel's words mid-line and named a namespace
// nobody typed. It wraps err (ErrNotFound).
func missingID(file string, cfg ckpt.Config, id string, err error) error {
	what := fmt.Sprintf("whose id starts with %q", id)
	if len(id) == 26 { // a whole ULID: the id itself
		what = id
	}
	where := fmt.Sprintf("thread %q", cfg.ThreadID)
	if cfg.CheckpointNS != "" {
		where += fmt.Sprintf(" namespace %q", cfg.CheckpointNS)
	}
	return textError{fmt.Sprintf("%s: %s has no checkpoint %s ('ckpt log' lists its checkpoints)", file, where, what), err}
}

// resolveID turns a checkpoint id, or the start of one, into the id.
func resolveID(ctx context.Context, s *ckpt.Store, file string, cfg ckpt.Config, id string) (string, error) {
	full, err := s.ResolveID(ctx, cfg.ThreadID, cfg.CheckpointNS, id)
	if errors.Is(err, ckpt.ErrNotFound) {
		return "", notFoundIn(ctx, s, file, cfg, id, err)
	}
	return full, resolveUsage(err)
}

// emitJSON prints indented JSON for people, one compact line with --json.
func (a *app) emitJSON(v any) error {
	if a.asJSON {
		enc := json.NewEncoder(a.out)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	return a.printJSON(v)
}

type writeDoc struct {
	TaskID   string `json:"task_id"`
	TaskPath string `json:"task_path"`
	Idx      int    `json:"idx"`
	Channel  string `json:"channel"`
	Value    any    `json:"value"`
}

type checkpointDoc struct {
	Thread        string            `json:"thread"`
	NS            string            `json:"ns"`
	ID            string            `json:"id"`
	Time          time.Time         `json:"time"`
	Parent        *string           `json:"parent,omitempty"` // left out for a first checkpoint
	Metadata      map[string]any    `json:"metadata"`
	State         map[string]any    `json:"state"`
	Versions      map[string]string `json:"versions"`
	PendingWrites []writeDoc        `json:"pending_writes"`
}

func showDoc(t *ckpt.Tuple) (*checkpointDoc, error) {
	d := &checkpointDoc{Thread: jsonName(t.Config.ThreadID), NS: jsonName(t.Config.CheckpointNS), ID: t.Config.CheckpointID,
		Time: t.Checkpoint.TS, Metadata: jsonable(map[string]any(t.Metadata)).(map[string]any),
		State: map[string]any{}, Versions: map[string]string{}, PendingWrites: []writeDoc{}}
	if t.ParentConfig != nil {
		d.Parent = &t.ParentConfig.CheckpointID
	}
	for ch, v := range t.Checkpoint.ChannelVersions {
		d.Versions[jsonName(ch)] = v
	}
	for ch, v := range t.Checkpoint.ChannelValues {
		raw, _ := v.(ckpt.Raw)
		val, err := jsonValue(raw)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s channel %q: %w", t.Config.CheckpointID, ch, err)
		}
		d.State[jsonName(ch)] = val
	}
	for _, w := range t.PendingWrites {
		val, err := jsonValue(w.Value)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s pending write of task %q: %w", t.Config.CheckpointID, w.TaskID, err)
		}
		d.PendingWrites = append(d.PendingWrites, writeDoc{w.TaskID, w.TaskPath, w.Idx, jsonName(w.Channel), val})
	}
	return d, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
