package ckpt

// RecentThreads: one page of the threads, newest first, as the history
// browser's front page and an app's "recent conversations" list show them.
// Threads summarises every thread it yields, which reads every record of
// it (counts, sizes, checksums), and each thread's bucket is a page of its
// own; the order needs only the global index of checkpoints (bucket
// index/, a few bytes per checkpoint), so only the page's threads are
// summarised. On a file of 100,000 one-checkpoint threads (430 MB) the
// browser's front page summarised them all: 7.8-9.2 s a page at a load
// average of 17 (and its gate then held the next page back nine times as
// long), where this page took 50-100 ms.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// ThreadQuery selects a page of RecentThreads.
type ThreadQuery struct {
	// Prefix, if not empty, keeps the threads whose id starts with it.
	Prefix string
	// Offset is how many threads of the order to pass over; Limit is the
	// most returned (0 means no limit). Negative is ErrInvalidConfig.
	Offset, Limit int
}

// ThreadPage is what RecentThreads returns.
type ThreadPage struct {
	// Threads holds the page's summaries, newest checkpoint first.
	Threads []ThreadInfo
	// Errs, if not nil, has one entry per entry of Threads: the error its
	// summary met (ErrCorrupt: a damaged record of that thread), or nil.
	// A damaged thread's ThreadInfo holds its id and what could be read.
	Errs []error
	// Total counts the threads that match Prefix, on every page.
	Total int
}

// RecentThreads returns the threads whose id starts with q.Prefix, newest
// first (by their newest checkpoint's id, which is time-ordered: a ULID),
// q.Offset of them passed over and at most q.Limit returned, each
// summarised as Thread does. It walks the store's time-ordered index of
// checkpoints from the newest until it has seen the page's threads, and
// summarises those alone: its cost grows with the page and the history
// written since the page's threads last wrote, not with the whole history
// of every thread, as summarising them all would. Damage confined to one
// thread is reported for that thread (ThreadPage.Errs) and the others are
// listed, as is a thread whose place a damaged index entry does not give
// (its newest checkpoint's entry names another thread, or another
// checkpoint; listed where the index puts it, or last, with ErrCorrupt);
// damage to the list of threads itself is the error. The page,
// its summaries and Total are read from one snapshot: the store as of one
// moment, whatever writers do meanwhile (between two calls, a thread
// written since may move to the front, shifting the pages after it).
func (s *Store) RecentThreads(ctx context.Context, q ThreadQuery) (ThreadPage, error) {
	if q.Offset < 0 || q.Limit < 0 {
		return ThreadPage{}, fmt.Errorf("%w: RecentThreads: negative offset %d or limit %d", ErrInvalidConfig, q.Offset, q.Limit)
	}
	var page ThreadPage
	damaged := false
	// One snapshot for the walk and the summaries: the page is the store
	// as of one moment, Total included. Summaries read in later snapshots
	// (a Thread call each) left out a thread deleted since the walk (a
	// page one short of its Limit, with a Total that counted it) and
	// showed one written since it out of the page's order.
	err := s.view(ctx, func(r reader) (err error) {
		if page.Total, err = countThreads(r, q.Prefix); err != nil {
			return err
		}
		want := page.Total
		if q.Limit > 0 {
			want = min(page.Total, q.Offset+q.Limit)
		}
		order, placed, err := newestThreads(r, q.Prefix, want)
		if err != nil {
			return err
		}
		shown := order[min(q.Offset, len(order)):]
		if q.Limit > 0 {
			shown = shown[:min(q.Limit, len(shown))]
		}
		for _, thread := range shown {
			if err := ctx.Err(); err != nil {
				return err
			}
			info, err := summariseRecent(r, thread, !s.untallied, !s.unlisted)
			if err == nil {
				err = checkPlace(thread, info, placed)
			}
			switch {
			case errors.Is(err, ErrCorrupt), errors.Is(err, ErrInvalidConfig):
				// Damage within this thread (ErrInvalidConfig: a name no
				// write could have stored, a damaged one).
				info.ThreadID = thread
				damaged = true
			case err != nil:
				return err // a missing key
			}
			page.Threads = append(page.Threads, info)
			page.Errs = append(page.Errs, err)
		}
		return nil
	})
	if err != nil {
		return ThreadPage{}, err
	}
	if !damaged {
		page.Errs = nil
	}
	return page, nil
}

// summariseRecent is Thread's summary of a thread the walk found, in the
// walk's snapshot.
func summariseRecent(r reader, thread string, tallied, lists bool) (ThreadInfo, error) {
	if err := validThread(thread); err != nil {
		return ThreadInfo{}, err
	}
	return summariseThread(r, thread, tallied, lists)
}

// countThreads counts the threads whose id starts with prefix. It reads
// the names only, never a thread's own bucket.
func countThreads(r reader, prefix string) (int, error) {
	n := 0
	err := eachThreadName(r, prefix, func(string) error { n++; return nil })
	return n, err
}

// eachThreadName calls fn with the name of each thread whose id starts
// with prefix, in id order.
func eachThreadName(r reader, prefix string, fn func(thread string) error) error {
	var after []byte
	if prefix != "" {
		// Buckets starts after a name: the thread named prefix itself is
		// taken first, then the walk starts at it.
		if r.Exists(threadBucket(prefix)) {
			if err := fn(prefix); err != nil {
				return err
			}
		}
		after = []byte(prefix)
	}
	return r.Buckets(threadsRoot, after, func(name []byte) error {
		if !bytes.HasPrefix(name, []byte(prefix)) {
			return errStop
		}
		return fn(string(name))
	})
}

// newestThreads returns the first want threads whose id starts with
// prefix, newest first, from the global index walked from its end (want
// is at most the number of such threads, so the walk ends once it has
// seen them all), and, for each thread the index named, the checkpoint
// whose entry placed it (checkPlace compares it with the thread's
// newest). A damaged index (Verify reports it) may name a thread that is
// not stored, or miss one: the first is passed over, the second put after
// the threads the index names, in id order, so that every thread can
// still be found. Keys out of order in the index's pages end the walk
// with ErrCorrupt, which is the answer: the walk passes over the keys
// around such a key, and the threads it passed over would come last.
func newestThreads(r reader, prefix string, want int) ([]string, map[string]placement, error) {
	var order []string
	placed := map[string]placement{}
	err := r.Scan(indexPath, nil, nil, true, func(k, _ []byte) error {
		if len(order) >= want {
			return errStop
		}
		id, thread, _, err := parseIndexKey(k)
		if _, seen := placed[thread]; err == nil && !seen && strings.HasPrefix(thread, prefix) && r.Exists(threadBucket(thread)) {
			placed[thread] = placement{id: id, indexed: true}
			order = append(order, thread)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("the global index, walked newest first: %w", err)
	}
	if len(order) >= want {
		return order, placed, nil
	}
	err = eachThreadName(r, prefix, func(thread string) error {
		if _, seen := placed[thread]; !seen {
			order = append(order, thread)
			// The whole index was walked: a thread it does not name
			// holds no checkpoint, unless an index entry is damaged (a
			// flipped byte of the thread's name in its one entry).
			placed[thread] = placement{unindexed: hasCheckpoints(r, thread)}
		}
		return keepScanning(len(order) < want)
	})
	return order, placed, err
}

// placement is where the index walk put a thread: at the entry of
// checkpoint id, or last (not indexed), where unindexed says the thread
// holds checkpoints the index should have named.
type placement struct {
	id                 [idLen]byte
	indexed, unindexed bool
}

// checkPlace returns ErrCorrupt when the index entry that placed thread
// is not its newest checkpoint's. When sound, the index names every
// checkpoint (written in the same transaction), so the walk from the
// newest meets each thread first at its newest checkpoint. A flipped
// byte of one entry's thread name lists the thread it now names at
// another's checkpoint, and the thread that lost it at an older one, or
// last: both out of their place, each told here with its own error.
func checkPlace(thread string, info ThreadInfo, placed map[string]placement) error {
	p := placed[thread]
	switch {
	case p.unindexed:
		return fmt.Errorf("%w: thread %q: the global index names none of its checkpoints (a damaged index entry): its place in the order is not known", ErrCorrupt, thread)
	case p.indexed && info.NewestID != idString(p.id):
		return fmt.Errorf("%w: thread %q: the global index places it at checkpoint %s, but its newest checkpoint is %q (a damaged index entry): its place in the order is not known", ErrCorrupt, thread, idString(p.id), info.NewestID)
	}
	return nil
}
