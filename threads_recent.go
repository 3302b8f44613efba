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
	"strconv"
	"strings"

	"github.com/ckpt-go/ckpt/internal/engine"
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
// listed, as is a thread a damaged index entry misplaces (one the index
// does not name, listed last; one its first entry in the index does not
// place by its newest checkpoint): its place is not known. Damage to the
// list of threads itself is the error, an index entry naming a thread
// that is not stored too (newestThreads). The page,
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
		if err := dirCycle(r, !s.unlisted, "recent threads"); err != nil {
			return err
		}
		if page.Total, err = countThreads(r, q.Prefix); err != nil {
			return err
		}
		want := page.Total
		if q.Limit > 0 {
			want = min(page.Total, q.Offset+q.Limit)
		}
		misplaced := map[string]error{}
		order, err := newestThreads(r, q.Prefix, want, misplaced)
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
				// Placed where its checkpoints may not belong: the
				// order's error, told with this thread.
				err = misplaced[thread]
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
	// Guarded as Threads' summaries are (summariseOwn): a read-only
	// handle's bucket whose pages lead into a cycle panics as it is
	// opened, which is this thread's ErrCorrupt, not the whole page's.
	return summariseOwn(r, thread, tallied, lists)
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
		// taken first, then the walk starts at it. threadFound: a
		// damaged bucket is found, and its summary's ErrCorrupt is its
		// own, as for a thread the walk names.
		if threadFound(r, prefix) {
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
// seen them all). Each index entry names a stored checkpoint, and a
// thread's first entry met is its newest checkpoint's, when sound. A
// damaged entry (a flipped byte of the thread's name: Verify reports it)
// breaks that, and the order with it:
//   - an entry naming a thread that is not stored is the walk's
//     ErrCorrupt: the thread it was written for stands lower in the order
//     than it should (placed by an older entry, or not at all), and which
//     one it is cannot be told;
//   - a thread placed by an entry that is not its newest checkpoint's
//     (its newest entry renamed away, or another thread's entry renamed
//     to it) goes into misplaced with ErrCorrupt: listed where it may not
//     belong, as is a thread the index does not name at all, which holds
//     checkpoints all the same (put after the threads the index names, in
//     id order, so that every thread can still be found).
//
// An entry renamed to a thread placed higher up, or to a name outside
// prefix, is passed over unseen (checking every entry walked would cost a
// lookup each); Verify reports it. Keys out of order in the index's pages
// end the walk with ErrCorrupt, which is the answer: the walk passes over
// the keys around such a key, and the threads it passed over would come
// last.
func newestThreads(r reader, prefix string, want int, misplaced map[string]error) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	err := r.Scan(indexPath, nil, nil, true, func(k, _ []byte) error {
		if len(order) >= want {
			return errStop
		}
		id, thread, ns, err := parseIndexKey(k)
		if err != nil {
			return err
		}
		if seen[thread] || !strings.HasPrefix(thread, prefix) {
			return nil
		}
		if !threadFound(r, thread) {
			return fmt.Errorf("%w: index entry %x names thread %q, which is not stored (a damaged entry: the thread it was written for is out of its place)", ErrCorrupt, k, thread)
		}
		// Guarded: a read-only handle's damaged thread bucket (engine's
		// checkDamaged) is that thread's ErrCorrupt, not the page's.
		if err := engine.Guard("thread "+strconv.Quote(thread), func() error { return newestEntry(r, thread, id, ns) }); err != nil {
			misplaced[thread] = err
		}
		seen[thread] = true
		order = append(order, thread)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the global index, walked newest first: %w", err)
	}
	if len(order) >= want {
		return order, nil
	}
	err = eachThreadName(r, prefix, func(thread string) error {
		if !seen[thread] {
			order = append(order, thread)
			// The whole index was walked: a thread it does not name
			// holds no checkpoint, unless an index entry is damaged (a
			// flipped byte of the thread's name in its one entry), and
			// the thread's place in the order is then not known.
			has := false
			if err := engine.Guard("thread "+strconv.Quote(thread), func() error { has = hasCheckpoints(r, thread); return nil }); err != nil {
				misplaced[thread] = err // a damaged bucket: this thread's alone
			} else if has {
				misplaced[thread] = fmt.Errorf("%w: thread %q: the global index names none of its checkpoints (a damaged index entry): its place in the order is not known", ErrCorrupt, thread)
			}
		}
		return keepScanning(len(order) < want)
	})
	return order, err
}

// newestEntry checks that the index entry (id, ns) that places thread in
// the order names its newest checkpoint, the last of its history order
// (ids/, keyed as the entry: id, then namespace): one seek.
func newestEntry(r reader, thread string, id [idLen]byte, ns string) error {
	var last []byte
	if err := r.Scan(threadPath(thread, bucketOrder), nil, nil, true, func(k, _ []byte) error {
		last = bytes.Clone(k)
		return errStop
	}); err != nil {
		return fmt.Errorf("thread %q: ids/: %w", thread, err)
	}
	if want := orderKey(id, ns); !bytes.Equal(last, want) {
		newest := "none"
		if len(last) >= idLen {
			newest = idString([idLen]byte(last))
		}
		return fmt.Errorf("%w: thread %q: its newest entry in the global index names checkpoint %s, its newest checkpoint is %s (a damaged index entry): its place in the order is not known",
			ErrCorrupt, thread, idString(id), newest)
	}
	return nil
}
