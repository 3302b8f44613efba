package web

// A handler over a file it need not hold: `ckpt ui` opens the store when a
// page needs it and closes it when no one looks, since bbolt lets one
// process hold the file and a service (or its supervisor's restart) that
// opens it while ui holds it waits its LockTimeout and fails with
// ErrLocked.

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

// A Lender lends a handler its store one read at a time, so the program
// that serves the pages need not hold the file between them.
type Lender interface {
	// Borrow returns the store for one page's reads, which stays open
	// until the matching Return. Its error is the page's answer: one that
	// is errors.Is ckpt.ErrLocked (another process holds the file) is 503
	// with the error's text, and the next page borrows again.
	Borrow(ctx context.Context) (*ckpt.Store, error)
	// Return ends a Borrow that returned a store. poll says the borrow was
	// one read of an event stream (/events), which must not keep the file
	// open by itself: a tab left open on a thread page would hold it for
	// ever.
	Return(poll bool)
}

// LentHandler is Handler over the store l lends, opened as pages need it.
// path is the store's file, which the pages of a damaged record name for
// `ckpt verify`. The store is taken to be opened read-only: the write
// actions are off, whatever opts.AllowWrites says, and the thread page
// does not follow new checkpoints (its event stream still answers, at
// most every lentLiveInterval).
func LentHandler(path string, l Lender, opts Options) http.Handler {
	return newServer(l, path, true, opts)
}

// lentLiveInterval is the shortest wait between two reads of an event
// stream on a lent store. A read of a lender that closed the file for want
// of pages (Lender.Return's poll) opens it again: a read-only Open of a
// 176 MB store of 100,000 checkpoints took 68-125 ms (median of 20 on a
// 2-core machine at load 5, 2026-12-07), so a poll a second would be a
// tenth of a core, and the file held a tenth of the time, per open tab.
const lentLiveInterval = 10 * time.Second

// heldStore lends a store the program holds itself (Handler): the same
// one to every page, never closed.
type heldStore struct{ s *ckpt.Store }

func (h heldStore) Borrow(context.Context) (*ckpt.Store, error) { return h.s, nil }
func (heldStore) Return(bool)                                   {}

// storeKey is the request context's key of the store its page borrowed.
type storeKey struct{}

// st is the store the page of ctx borrowed (gated, newestGated).
func (s *server) st(ctx context.Context) *ckpt.Store {
	if h, ok := s.lender.(heldStore); ok {
		return h.s
	}
	return ctx.Value(storeKey{}).(*ckpt.Store)
}

// borrow lends the store to a page's build: ctx carries it (st) until
// give, which gives it back.
func (s *server) borrow(ctx context.Context, poll bool) (_ context.Context, give func(), err error) {
	st, err := s.lender.Borrow(ctx)
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, storeKey{}, st), sync.OnceFunc(func() { s.lender.Return(poll) }), nil
}
