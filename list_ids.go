package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"iter"
)

// ListIDs yields the checkpoints of one thread as List selects them
// (opts.Namespace, opts.Before and opts.Limit, newest first), but only
// their configs, read from the thread's history order alone: no record is
// read or checked, so it goes on past a checkpoint whose record is
// damaged, where List stops with ErrCorrupt. A tool that meets ErrCorrupt
// in List walks these ids and reads each with GetTuple, to show that
// checkpoint as damaged and the others as they are (the history
// browser's thread page does). An id yielded is not checked: GetTuple of
// it may fail. opts.ThreadID is required, and opts.Filter, which needs
// each checkpoint's metadata record, is refused (both ErrInvalidConfig);
// an unknown thread yields nothing.
func (s *Store) ListIDs(ctx context.Context, opts ListOptions) iter.Seq2[Config, error] {
	return func(yield func(Config, error) bool) {
		sel, err := newSelector(opts)
		switch {
		case err != nil:
		case sel.thread == "":
			err = fmt.Errorf("%w: ListIDs needs a thread id", ErrInvalidConfig)
		case len(sel.filter) > 0:
			err = fmt.Errorf("%w: ListIDs takes no metadata filter (it reads no record)", ErrInvalidConfig)
		}
		if err != nil {
			yield(Config{}, err)
			return
		}
		start, left := sel.before, opts.Limit
		for {
			// A view a page, so a long history is not read under one.
			var page []Config
			err := s.view(ctx, func(r reader) error {
				return r.Scan(threadPath(sel.thread, bucketOrder), nil, start, true, func(k, _ []byte) error {
					id, ns, err := parseOrderKey(k)
					if err != nil {
						return fmt.Errorf("thread %q: %w", sel.thread, err)
					}
					start = bytes.Clone(k)
					if sel.ns == nil || *sel.ns == ns {
						page = append(page, Config{ThreadID: sel.thread, CheckpointNS: ns, CheckpointID: idString(id)})
					}
					if len(page) == listIDsPage || opts.Limit > 0 && len(page) == left {
						return errStop
					}
					return ctx.Err()
				})
			})
			for _, c := range page {
				if !yield(c, nil) {
					return
				}
			}
			if err != nil {
				yield(Config{}, err)
				return
			}
			left -= len(page)
			if len(page) < listIDsPage || opts.Limit > 0 && left <= 0 {
				return
			}
		}
	}
}

// listIDsPage is how many ids ListIDs reads in one view.
const listIDsPage = 1024
