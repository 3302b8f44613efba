package ckpt

// The directory of threads (dir/, bucket_layout.go). A thread's records
// live in its bucket under threads/, found by its name, a key in the
// threads bucket's pages that no record sum covers. Damage that hid that
// bucket (a flipped byte of the name, a flipped key in a branch page of
// the threads bucket) left no trace a read looked at: GetTuple said "no
// checkpoint in thread", List yielded nothing, and a worker resuming the
// thread started its conversation again, its acknowledged checkpoints
// lost without an error. So every thread is also listed in dir/, written
// in the transaction that creates its bucket and deleted in the one that
// drops it, and a read that finds nothing looks there before it says
// ErrNotFound: a thread listed whose bucket is not found is ErrCorrupt.
// Within a thread whose bucket is found, a namespace whose newest
// checkpoint record is hidden is told apart by its metadata (the latest
// read checks md/ against cp/: list_history.go); one whose cp/ and md/ are
// both hidden (two damages, in two buckets' pages) reads as never written:
// telling it apart would take a scan of the thread's history for a
// namespace's first read, and a LangGraph subgraph reads a new namespace
// each run, so a long thread would pay it over and over.
//
// Cost: nothing on a read that finds its checkpoint; on one that finds
// none, one lookup in dir/, and for a thread listed there, the lookups of
// its bucket and of its cp/. A file
// of a format before 7 opened read-only has no directory: its reads are
// as before.

import (
	"bytes"
	"fmt"
)

// errThreadHidden is the error for a thread listed in the directory whose
// bucket is not found.
func errThreadHidden(thread string) error {
	return fmt.Errorf("%w: thread %q: in the directory of threads, its bucket is not found (a damaged key or page hides its checkpoints)", ErrCorrupt, thread)
}

// threadHidden returns ErrCorrupt when thread's bucket is not found while
// the directory lists it; nil otherwise.
func threadHidden(r reader, thread string) error {
	if !r.Has(dirPath, dirKey(thread)) || r.Exists(threadBucket(thread)) {
		return nil
	}
	return errThreadHidden(thread)
}

// checkpointHidden returns ErrCorrupt when checkpoint id of (thread, ns),
// whose record a read did not find, was written: the thread's history
// order holds it, or the thread's bucket is hidden; nil otherwise.
func checkpointHidden(r reader, thread, ns string, id [idLen]byte) error {
	if r.Has(threadPath(thread, bucketOrder), orderKey(id, ns)) {
		return errRecordMissing(thread, ns, id)
	}
	return threadHidden(r, thread)
}

// absent is the error for (ns, the reader's thread) when a read found no
// checkpoint there: ErrNotFound, or ErrCorrupt when damage hides what was
// written. A new thread's first GetTuple is a hot path: it costs one Get
// in the directory (every thread written is listed there), its key built
// in the reader's own room; a thread listed costs the lookups of its
// bucket and of its cp/.
func (t *tupleReader) absent(ns string) error {
	t.kbuf = appendLen16(t.kbuf[:0], t.thread)
	if t.r.Has(dirPath, t.kbuf) {
		if !t.r.Exists(t.paths[0][:2]) { // the thread's bucket (setThread)
			return errThreadHidden(t.thread)
		}
		// A thread's first Put makes its cp/, and nothing but the thread's
		// drop removes it: a thread listed without one lost it to damage
		// (its header in the thread's page).
		if !t.r.Exists(t.cp) {
			return fmt.Errorf("%w: thread %q: its checkpoint records' bucket is not found (a damaged key or page hides them)", ErrCorrupt, t.thread)
		}
	}
	return fmt.Errorf("%w: no checkpoint in thread %q namespace %q", ErrNotFound, t.thread, ns)
}

// historyHidden returns ErrCorrupt when thread has no checkpoint found in
// any namespace while damage hides some: its bucket not found while the
// directory lists it, or its history order holding an entry.
func historyHidden(r reader, thread string) error {
	if !r.Exists(threadBucket(thread)) {
		return threadHidden(r, thread)
	}
	var err error
	r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, _ := parseOrderKey(k)
		err = errRecordMissing(thread, ns, id)
		return errStop
	})
	return err
}

// noteThread lists thread in the directory when this write creates its
// bucket (call it before the write's first Put into the thread). A thread
// listed whose bucket is not found is ErrCorrupt: the write would start
// again, on top of the hidden one, a history already written.
func noteThread(w writer, thread string) error {
	if w.Exists(threadBucket(thread)) {
		return nil
	}
	k := dirKey(thread)
	if w.Has(dirPath, k) {
		return errThreadHidden(thread)
	}
	return w.Put(dirPath, k, nil)
}

// dropThread drops thread's bucket and its directory entry.
func dropThread(w writer, thread string) error {
	if err := w.DropBucket(threadBucket(thread)); err != nil {
		return err
	}
	return w.Del(dirPath, dirKey(thread))
}

// dirFormat is the first format whose files keep the directory of threads.
const dirFormat uint32 = 7

// dirStep, a step of the upgrade to dirFormat, lists in the directory up to
// budget threads from *after on (nil: the first) and advances it. Listing a
// thread again writes the same entry, so a run killed before the marker is
// redone from the start.
func dirStep(w writer, after *[]byte, budget int) (done bool, err error) {
	var names [][]byte
	if err := w.Buckets(threadsRoot, *after, func(name []byte) error {
		if len(names) == budget {
			return errStop
		}
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return false, err
	}
	for _, name := range names {
		if err := w.Put(dirPath, dirKey(string(name)), nil); err != nil {
			return false, err
		}
	}
	if len(names) < budget {
		return true, nil
	}
	*after = names[len(names)-1]
	return false, nil
}

// verifyDir is the directory part of Verify for a file that keeps one:
// every thread listed has its bucket, every bucket its entry (threads
// being imported are listed too).
func verifyDir(r reader, rep *VerifyReport) {
	r.Scan(dirPath, nil, nil, false, func(k, _ []byte) error {
		thread, rest, ok := parseLen16(k)
		switch {
		case !ok || len(rest) != 0:
			rep.add(Problem{Check: "thread", Detail: fmt.Sprintf("directory key %x is malformed", k)})
		case !r.Exists(threadBucket(thread)):
			rep.add(Problem{Check: "thread", Thread: thread, Detail: "in the directory of threads, its bucket is not found (a damaged key or page hides its checkpoints)"})
		}
		return nil
	})
	r.Buckets(threadsRoot, nil, func(name []byte) error {
		if !r.Has(dirPath, dirKey(string(name))) {
			rep.add(Problem{Check: "thread", Thread: string(name), Detail: "thread bucket missing from the directory of threads (a damaged key or page, or its name changed)"})
		}
		return nil
	})
}
