package engine

// Reads that must not see an operation's commits until it ends: an Import
// commits a dump in batches, and a dump gives a thread's checkpoints
// before their values, so between two batches the file holds checkpoints
// whose values are not there yet. While such an operation runs
// (Unpublished), a read goes through Options.HideUnpublished, which hides
// what it wrote (the root package reads the snapshot's record of
// unfinished imports). Every other read pays three atomic loads.
//
// Which reads go through it is decided after the read's snapshot is taken,
// so that no read whose snapshot was taken before an operation ended, and
// which looks after, is let through unhidden: ended counts the operations
// that ended (counted before active drops), read before the snapshot and
// again after. A read passes unhidden only when no operation runs after
// its snapshot was taken (active 0) and none ended since before it was
// (ended the same): its snapshot then holds every commit of every
// operation that ran before it (an operation that starts later commits
// later). The hiding reads the snapshot itself, so a read sent through it
// needlessly only costs time.

import "sync/atomic"

type readGate struct {
	hide   func(Reader) Reader // Options.HideUnpublished; nil: none
	active atomic.Int64        // operations running
	ended  atomic.Uint64       // operations ended
}

// Unpublished marks the start of an operation whose commits reads must not
// see until end, called once after its last commit (or its undoing).
func (e *Engine) Unpublished() (end func()) {
	e.gate.active.Add(1)
	return func() {
		e.gate.ended.Add(1) // first: a read that sees active drop sees this
		e.gate.active.Add(-1)
	}
}

// Gated returns r, the store as an op in the commit loop sees it (its
// writer), as a read sees it: without what operations not published yet
// wrote, while any runs. An op runs after every commit before it, so it
// needs no check of ended: once none runs, every one that ran has
// published (or undone) what it wrote. For a read that runs in the commit
// loop (Verify with NoWAL).
func (e *Engine) Gated(r Reader) Reader {
	if e.gate.hide == nil || e.gate.active.Load() == 0 {
		return r
	}
	return e.gate.hide(r)
}

// before is read before a read's snapshot is taken (reader's ended).
func (g *readGate) before() uint64 { return g.ended.Load() }

// reader returns the reader a read whose snapshot is r reads through:
// r, or the hiding one while an operation may have committed into it.
func (g *readGate) reader(r Reader, ended uint64) Reader {
	if g.hide == nil || g.active.Load() == 0 && g.ended.Load() == ended {
		return r
	}
	return g.hide(r)
}
