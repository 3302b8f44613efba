package ckpt

// The Saver's reads: GetTuple (one checkpoint with its values and pending
// writes) and List (a thread's or the store's checkpoints, newest first, in
// pages of one read transaction each).

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
)

// GetTuple returns the checkpoint cfg names, or the newest of the thread
// and namespace when cfg.CheckpointID is empty. The newest is found by one
// seek, whatever the history length. Unknown thread or id: ErrNotFound.
// The tuple and everything in it (its maps, its Raw values) are the
// caller's: nothing is shared with the store or with another read, so
// they stay valid and may be changed (a Reader reuses its values' memory
// instead).
func (s *Store) GetTuple(ctx context.Context, cfg Config) (_ *Tuple, err error) {
	defer s.obs.done(OpGet, &err)
	return s.getTuple(ctx, cfg, nil)
}

// getTuple is GetTuple, the tuple's value bytes copied into *block when
// block is not nil (Reader).
func (s *Store) getTuple(ctx context.Context, cfg Config, block *[]byte) (*Tuple, error) {
	if err := validConfig(cfg); err != nil {
		return nil, err
	}
	var want *[idLen]byte
	if cfg.CheckpointID != "" {
		id, err := parseID("checkpoint id", cfg.CheckpointID)
		if err != nil {
			return nil, err
		}
		want = &id
	}
	var t *Tuple
	err := s.view(ctx, func(r reader) (err error) {
		t, err = s.loadTuple(r, cfg.ThreadID, cfg.CheckpointNS, want, block)
		return err
	})
	return t, err
}

// loadWrites reads the pending writes of the checkpoint keyed cpKey, ordered
// by (task path, task id, idx).
func loadWrites(r reader, kr *keyring, thread string, cpKey []byte) ([]PendingWrite, error) {
	var out []PendingWrite
	ts := seedOf(thread)
	err := r.Scan(threadPath(thread, bucketWrites), cpKey, nil, false, func(k, v []byte) error {
		task, idx, err := parseWriteKey(cpKey, k)
		if err != nil {
			return err
		}
		rec, err := openWriteRecord(kr, thread, ts, k, v)
		if errors.Is(err, ErrKey) && kr == nil {
			rec, err = decodeWriteRecord(ts, k, v) // listed, its value locked (crypt.go)
			if err == nil {
				id, _ := envelopeKey(rec.sealed)
				rec.Value = []byte(lockedRaw(id))
			}
		}
		if err != nil {
			return fmt.Errorf("pending write (task %q, idx %d): %w", task, idx, err)
		}
		out = append(out, PendingWrite{TaskID: task, TaskPath: rec.TaskPath, Idx: idx, Channel: rec.Channel, Value: Raw(rec.Value)})
		return nil
	})
	slices.SortStableFunc(out, comparePendingWrites)
	return out, err
}

// comparePendingWrites orders pending writes by (task path, task id, idx).
func comparePendingWrites(a, b PendingWrite) int {
	return cmp.Or(cmp.Compare(a.TaskPath, b.TaskPath), cmp.Compare(a.TaskID, b.TaskID), cmp.Compare(a.Idx, b.Idx))
}

// listPage is how many tuples List reads per read transaction. Between
// pages no transaction is open, so a caller may write while iterating and
// memory stays bounded by one page whatever the history length.
const listPage = 64

// List yields checkpoints newest first by id, filtered by opts. It reads
// page by page; an error ends the sequence after being yielded once. Each
// tuple is the caller's, as from GetTuple.
func (s *Store) List(ctx context.Context, opts ListOptions) iter.Seq2[*Tuple, error] {
	return func(yield func(*Tuple, error) bool) {
		yield = countList(&s.obs, yield)
		sel, err := newSelector(opts)
		if err != nil {
			yield(nil, err)
			return
		}
		start := sel.start()
		left := opts.Limit
		for {
			want := listPage
			if opts.Limit > 0 {
				want = min(want, left)
			}
			page, next, err := s.listPage(ctx, sel, start, want)
			for _, t := range page {
				if !yield(t, nil) {
					return
				}
			}
			if err != nil {
				yield(nil, err)
				return
			}
			left -= len(page)
			if next == nil || opts.Limit > 0 && left <= 0 {
				return
			}
			start = next
		}
	}
}

// indexPath is the path of the global index, made once: a path passed to
// the reader escapes, a literal would be an allocation a page.
var indexPath = bucketPath{bucketIndex}

// listPage reads up to want matching tuples below start (a key of the
// bucket sel.walks); next is where the following page starts, nil at the
// end.
func (s *Store) listPage(ctx context.Context, sel *selector, start []byte, want int) (page []*Tuple, next []byte, err error) {
	checked := &sel.checked
	checked.newPage()
	err = s.view(ctx, func(r reader) error {
		page = make([]*Tuple, 0, want)
		tr := s.newTupleReader(r)
		defer tr.release()
		tr.listing = true
		path, prefix := indexPath, []byte(nil)
		switch {
		case sel.inNS():
			tr.setThread(sel.thread)
			path, prefix = tr.cp, sel.nsPrefix
		case sel.thread != "":
			if !checked.done(sel.thread) {
				tr.setThread(sel.thread)
				if err := tr.checkNamespaces(); err != nil {
					return err
				}
			}
			path = threadPath(sel.thread, bucketOrder)
		}
		serr := r.Scan(path, prefix, start, true, func(k, v []byte) error {
			var id [idLen]byte
			var err error
			thread, ns := sel.thread, ""
			switch {
			case prefix != nil:
				// A key of the thread's checkpoint bucket, v its header.
				if len(k) != len(prefix)+idLen {
					return fmt.Errorf("%w: checkpoint key has %d id bytes", ErrCorrupt, len(k)-len(prefix))
				}
				id, ns = [idLen]byte(k[len(prefix):]), *sel.ns
				tr.hist.walked = append(tr.hist.walked, id) // for checkInHistory
			case sel.thread != "":
				tr.hist.note(k) // for checkOrderPage
				id, ns, err = parseOrderKey(k)
				v = nil
			default:
				tr.hist.note(k) // for checkIndexPage
				id, thread, ns, err = parseIndexKey(k)
				v = nil
				if err == nil && !checked.done(thread) {
					err = tr.threadFound(thread, sel.ns)
				}
			}
			if err != nil {
				return err
			}
			if sel.ns != nil && *sel.ns != ns {
				return nil
			}
			tr.setThread(thread)
			var md Metadata // decoded by the filter (else load decodes it)
			var mdBody []byte
			if len(sel.filter) > 0 {
				var match bool
				mdBody, err = tr.metadataBody(ns, id)
				if err == nil {
					match, md, err = sel.matchesBody(mdBody)
				}
				if err != nil {
					return fmt.Errorf("checkpoint %s: %w", idString(id), err)
				}
				if !match {
					return nil
				}
			}
			var t *Tuple
			if v != nil {
				t, err = tr.loadRecord(ns, k, v, mdBody, md)
			} else {
				t, err = tr.load(ns, &id, mdBody, md)
				if errors.Is(err, ErrNotFound) {
					// The id came from the thread's history order or the
					// global index, which name a checkpoint only while it
					// is stored (retention deletes them in one
					// transaction): its record missing is damage. The
					// miss's own look at the order (checkpointHidden) is a
					// seek, which does not find an order key damaged out
					// of its page's order, and said ErrNotFound.
					where := "the global index"
					if sel.thread != "" {
						where = "the thread's history order"
					}
					err = fmt.Errorf("%w: %s names checkpoint %s of thread %q namespace %q, which is not stored",
						ErrCorrupt, where, idString(id), thread, ns)
				}
			}
			if err != nil {
				return err
			}
			page = append(page, t)
			if len(page) == want {
				next = bytes.Clone(k)
				return errStop
			}
			return ctx.Err()
		})
		switch {
		case serr != nil:
		case prefix != nil:
			var hi, lo []byte
			if start != nil {
				hi = start[len(prefix):]
			}
			if next != nil {
				lo = next[len(prefix):]
			}
			serr = tr.checkInHistory(*sel.ns, hi, lo)
		case sel.thread != "":
			tr.setThread(sel.thread)
			serr = tr.checkOrderPage(start, next)
		default:
			serr = tr.checkIndexPage(start, next)
			if serr == nil && sel.before != nil && bytes.Equal(start, sel.before) {
				serr = checkIndexAbove(r, start) // the first page (list_gaps.go)
			}
			if serr == nil && next == nil && sel.before == nil {
				serr = tr.checkThreadsIndexed() // the whole index walked (list_gaps.go)
			}
		}
		if serr != nil {
			// The page's range misses a checkpoint (list_gaps.go), or its
			// walk passed over a key out of order and went on: what it
			// found is not the history in order, and a caller that stops
			// at the first (a List with Limit 1 for the head) would read
			// an older checkpoint as the newest and never meet the error.
			// The List yields the error next, nothing of this page.
			page = page[:0]
		}
		if serr == nil && len(page) == 0 && sel.thread != "" {
			// Nothing in the thread (or namespace): one never written,
			// or one whose bucket or records damage hides (thread_dir.go).
			serr = emptyHidden(r, sel.thread, sel.ns, !s.unlisted)
		}
		if serr == nil {
			serr = ctx.Err()
		}
		return serr
	})
	return page, next, err
}
