package web

// The thread page of a thread with a damaged record. List stops at the
// first checkpoint it cannot read (ErrCorrupt), and so did the page: one
// damaged value made the whole history unreachable. The page then walks
// the thread's ids (Store.ListIDs reads no record) and reads each
// checkpoint alone: a damaged one is a row that says so, the others are
// drawn as ever.

import (
	"context"
	"errors"
	"iter"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

// histItem is one checkpoint of a thread page: its tuple, or, for one
// that does not read, its config and why.
type histItem struct {
	T      *ckpt.Tuple
	Cfg    ckpt.Config
	Damage string
}

// historyPage reads the opts.Limit checkpoints of the page opts selects,
// and whether an older one follows.
func (s *server) historyPage(ctx context.Context, opts ckpt.ListOptions) ([]histItem, bool, error) {
	// One more than the page shows tells whether an older page has any
	// checkpoint: the last page has no "older" link to an empty page.
	var items []histItem
	list := opts
	list.Limit++
	for t, err := range s.st(ctx).List(ctx, list) {
		if errors.Is(err, ckpt.ErrCorrupt) {
			return s.historyAround(ctx, opts)
		}
		if err != nil {
			return nil, false, err
		}
		if len(items) == opts.Limit {
			return items, true, nil
		}
		items = append(items, histItem{T: t, Cfg: t.Config})
	}
	return items, false, nil
}

// historyAround is historyPage for a thread List cannot read whole: its
// ids from the history order, each checkpoint read alone (aroundItems).
func (s *server) historyAround(ctx context.Context, opts ckpt.ListOptions) ([]histItem, bool, error) {
	var items []histItem
	for it, err := range s.aroundItems(ctx, opts) {
		if err != nil {
			return nil, false, err
		}
		if len(items) == opts.Limit {
			return items, true, nil
		}
		items = append(items, it)
	}
	return items, false, nil
}

// aroundItems yields the checkpoints opts selects (all of them: its Limit
// is not looked at), newest first, from the history order, each read
// alone. A checkpoint that does not read is yielded whatever the filter
// (its metadata may be what is damaged): the item says whether it matched
// is not known. The thread page's rows and the walk of its newer link
// both come from here, so the link finds the pages the thread page draws.
func (s *server) aroundItems(ctx context.Context, opts ckpt.ListOptions) iter.Seq2[histItem, error] {
	return func(yield func(histItem, error) bool) {
		var filter map[string]any
		if len(opts.Filter) > 0 {
			f, err := saverkit.NormalizeFilter(opts.Filter)
			if err != nil {
				yield(histItem{}, err)
				return
			}
			filter = f
		}
		ids := opts
		ids.Filter, ids.Limit = nil, 0
		for cfg, err := range s.st(ctx).ListIDs(ctx, ids) {
			if err != nil {
				yield(histItem{}, err)
				return
			}
			it := histItem{Cfg: cfg}
			t, err := s.st(ctx).GetTuple(ctx, cfg)
			switch {
			case errors.Is(err, ckpt.ErrCorrupt), errors.Is(err, ckpt.ErrNotFound):
				// Not found: the history order names a checkpoint that is
				// not stored, which List calls damage too.
				it.Damage = plainError(err)
				if filter != nil {
					it.Damage = "whether it matches the filter is not known: " + it.Damage
				}
			case err != nil:
				yield(histItem{}, err)
				return
			case filter != nil && !saverkit.MatchMetadata(t.Metadata, filter):
				continue
			default:
				it.T = t
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

// namespacesOf lists the namespaces of a thread whose summary does not
// read, from its history order.
func (s *server) namespacesOf(ctx context.Context, thread string) ([]string, error) {
	seen := map[string]bool{}
	for cfg, err := range s.st(ctx).ListIDs(ctx, ckpt.ListOptions{ThreadID: thread}) {
		if err != nil {
			return nil, err
		}
		seen[cfg.CheckpointNS] = true
	}
	return sortedKeys(seen), nil
}

// pageIDs yields the ids of the checkpoints opts selects, newest first.
// Without a filter, from the history order alone (Store.ListIDs), which
// reads no record, so a damaged one does not stop the walk of newerPage;
// with one, by List, which reads the metadata it matches, and, where List
// meets damage, as the thread page draws it (aroundItems): the ids List
// yielded before the damage are not yielded again.
func (s *server) pageIDs(ctx context.Context, opts ckpt.ListOptions) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if len(opts.Filter) == 0 {
			for cfg, err := range s.st(ctx).ListIDs(ctx, opts) {
				if !yield(cfg.CheckpointID, err) || err != nil {
					return
				}
			}
			return
		}
		damaged := false
		for t, err := range s.st(ctx).List(ctx, opts) {
			if errors.Is(err, ckpt.ErrCorrupt) {
				damaged = true
				break
			}
			if err != nil {
				yield("", err)
				return
			}
			if !yield(t.Config.CheckpointID, nil) {
				return
			}
			// Go on below it should List meet damage next.
			opts.Before = t.Config.CheckpointID
		}
		if !damaged {
			return
		}
		for it, err := range s.aroundItems(ctx, opts) {
			if !yield(it.Cfg.CheckpointID, err) || err != nil {
				return
			}
		}
	}
}
