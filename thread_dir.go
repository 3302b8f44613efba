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
// read checks md/ against cp/: list_history.go). One whose cp/ and md/ are
// both hidden (two damages, in two buckets' pages) read as never written:
// GetTuple said ErrNotFound and a LangGraph subgraph resuming it started
// again. So since format 8 the directory lists every namespace of a thread
// too (len16(thread) | thread | len16(ns) | ns, below the thread's own
// key), written in the transaction that writes the namespace's first
// checkpoint and deleted in the one that deletes its last, and a read that
// finds no checkpoint of a namespace listed there is ErrCorrupt naming
// thread and namespace. Why keys of their own and not a value on the
// thread's key: a subgraph's namespace is new every run, so a thread's
// namespaces grow without bound, and a value listing them would be
// rewritten whole by every new one; a key costs its own write once.
// Telling the namespace apart without the directory would take a scan of
// the thread's history on a namespace's first read, which a subgraph makes
// every run.
//
// Cost: nothing on a read that finds its checkpoint; on one that finds
// none, one reverse seek in dir/ (it finds the namespace's key, or the
// thread's, or neither), and for a thread listed there, the lookups of its
// bucket and of its cp/. A write costs a lookup in dir/ only when it has
// no parent (a namespace's first checkpoint), retention a seek in cp/ per
// checkpoint it deletes. A file of a format before 7 opened read-only has
// no directory, one of format 7 no namespaces in it: their reads are as
// before (tupleReader.unlisted).

import (
	"bytes"
	"fmt"
)

// errThreadHidden is the error for a thread listed in the directory whose
// bucket is not found.
func errThreadHidden(thread string) error {
	return fmt.Errorf("%w: thread %q: in the directory of threads, its bucket is not found (a damaged key or page hides its checkpoints)", ErrCorrupt, thread)
}

// errCheckpointsHidden is the error for a thread listed in the directory
// whose bucket is found without its checkpoint records' bucket. A thread's
// first Put makes its cp/, and nothing but the thread's drop removes it:
// a thread listed without one lost it to damage (its name in the thread's
// page, which may hide the history order after it too).
func errCheckpointsHidden(thread string) error {
	return fmt.Errorf("%w: thread %q: its checkpoint records' bucket is not found (a damaged key or page hides them)", ErrCorrupt, thread)
}

// threadHidden returns ErrCorrupt when the directory lists thread while
// its bucket, or its checkpoint records' bucket, is not found; nil
// otherwise.
func threadHidden(r reader, thread string) error {
	if !r.Has(dirPath, dirKey(thread)) {
		return nil
	}
	if !r.Exists(threadBucket(thread)) {
		return errThreadHidden(thread)
	}
	if !r.Exists(threadPath(thread, bucketCheckpoints)) {
		return errCheckpointsHidden(thread)
	}
	return nil
}

// errNamespaceHidden is the error for a namespace listed in the directory
// whose checkpoints are not found.
func errNamespaceHidden(thread, ns string) error {
	return fmt.Errorf("%w: thread %q namespace %q: in the directory of threads, none of its checkpoints is found (a damaged key or page hides them)", ErrCorrupt, thread, ns)
}

// hasNamespace reports whether thread's cp/ holds a checkpoint of ns.
func hasNamespace(r reader, thread, ns string) bool {
	found := false
	// Its error is harmless: true comes only from a key yielded in order,
	// and every caller makes false ErrCorrupt (a namespace listed).
	_ = r.Scan(threadPath(thread, bucketCheckpoints), nsKey(ns), nil, false, func(_, _ []byte) error {
		found = true
		return errStop
	})
	return found
}

// namespaceHidden returns ErrCorrupt when the directory lists namespace ns
// of thread while no checkpoint of it is found; nil otherwise (one lookup
// for a namespace not listed). Only for a file that lists namespaces
// (format 8).
func namespaceHidden(r reader, thread, ns string) error {
	if !r.Has(dirPath, nsDirKey(thread, ns)) || hasNamespace(r, thread, ns) {
		return nil
	}
	if !r.Exists(threadBucket(thread)) {
		return errThreadHidden(thread)
	}
	return errNamespaceHidden(thread, ns)
}

// writableLists is the lists argument of a write's checks: a file a store
// writes lists namespaces (a read-write Open upgrades it first).
const writableLists = true

// checkpointHidden returns ErrCorrupt when checkpoint id of (thread, ns),
// whose record a read did not find, was written: the thread's history
// order holds it, the namespace is listed without a checkpoint found
// (lists: the file lists namespaces, format 8), or the thread's bucket is
// hidden; nil otherwise.
func checkpointHidden(r reader, thread, ns string, id [idLen]byte, lists bool) error {
	if r.Has(threadPath(thread, bucketOrder), orderKey(id, ns)) {
		return errRecordMissing(thread, ns, id)
	}
	if lists {
		if err := namespaceHidden(r, thread, ns); err != nil {
			return err
		}
	}
	return threadHidden(r, thread)
}

// emptyHidden is the check of a read of thread (of its namespace *ns, or
// of every namespace when ns is nil) that found no checkpoint: ErrCorrupt
// when the thread's bucket is hidden, when the namespace is listed without
// a checkpoint found, or (ns nil) when the thread's cp/ holds none while a
// namespace is listed; nil otherwise. lists: as checkpointHidden's.
func emptyHidden(r reader, thread string, ns *string, lists bool) error {
	if err := threadHidden(r, thread); err != nil || !lists {
		return err
	}
	if ns != nil {
		return namespaceHidden(r, thread, *ns)
	}
	if hasCheckpointRecords(r, thread) {
		return nil
	}
	return listedNamespace(r, thread)
}

// hasCheckpointRecords reports whether thread's cp/ holds any key.
func hasCheckpointRecords(r reader, thread string) bool {
	found := false
	// Its error is harmless: a walk from the bucket's first key yields it
	// before it can meet one out of order, and on false the callers look
	// in the directory (listedNamespace).
	_ = r.Scan(threadPath(thread, bucketCheckpoints), nil, nil, false, func(_, _ []byte) error {
		found = true
		return errStop
	})
	return found
}

// listedNamespace returns errNamespaceHidden for the first namespace of
// thread the directory lists (the caller found none of its checkpoints);
// nil when it lists none. A walk that passed over a key out of order is
// ErrCorrupt naming the thread: that key may list one.
func listedNamespace(r reader, thread string) error {
	var err error
	prefix := dirKey(thread)
	serr := r.Scan(dirPath, prefix, append(prefix, 0), false, func(k, _ []byte) error {
		if _, ns, isNS, ok := parseDirKey(k); ok && isNS {
			err = errNamespaceHidden(thread, ns)
			return errStop
		}
		return nil
	})
	if serr != nil && err == nil {
		return fmt.Errorf("thread %q: the directory of threads: %w", thread, serr)
	}
	return err
}

// absent is the error for (ns, the reader's thread) when a read found no
// checkpoint there: ErrNotFound, or ErrCorrupt when damage hides what was
// written or the directory's walk meets a key out of order. A new namespace's first GetTuple is a hot path (a subgraph
// reads one every run): it costs one reverse seek in the directory, its
// key built in the reader's own room, which finds the namespace's key if
// listed, else the thread's if listed (a file of format 7 or before: one
// Get of the thread's key); a thread listed costs the lookups of its
// bucket and of its cp/.
func (t *tupleReader) absent(ns string) error {
	t.kbuf = appendLen16(t.kbuf[:0], t.thread)
	var threadListed, nsListed bool
	if t.unlisted {
		threadListed = t.r.Has(dirPath, t.kbuf)
	} else {
		n := len(t.kbuf)
		// Reverse scans begin at the last key < start: start just past
		// the namespace's key.
		t.kbuf = append(appendLen16(t.kbuf, ns), 0)
		t.found, t.foundVal = nil, nil
		if err := t.r.Scan(dirPath, t.kbuf[:n], t.kbuf, true, t.onLatest); err != nil {
			// A walk that passed over a key out of order found nothing
			// it can vouch for: the namespace may be listed.
			t.found, t.foundVal = nil, nil
			return fmt.Errorf("thread %q namespace %q: the directory of threads: %w", t.thread, ns, err)
		}
		threadListed = t.found != nil
		nsListed = bytes.Equal(t.found, t.kbuf[:len(t.kbuf)-1])
		t.found, t.foundVal = nil, nil
	}
	if threadListed {
		if !t.r.Exists(t.paths[0][:2]) { // the thread's bucket (setThread)
			return errThreadHidden(t.thread)
		}
		if !t.r.Exists(t.cp) {
			return errCheckpointsHidden(t.thread)
		}
	}
	if nsListed {
		return errNamespaceHidden(t.thread, ns)
	}
	return fmt.Errorf("%w: no checkpoint in thread %q namespace %q", ErrNotFound, t.thread, ns)
}

// historyHidden returns ErrCorrupt when thread has no checkpoint found in
// any namespace while damage hides some: its bucket not found while the
// directory lists it, one of its buckets a plain value, its history order
// holding an entry, or the directory listing one of its namespaces. (A
// write's check: a writable file lists namespaces.)
func historyHidden(r reader, thread string) error {
	if !r.Exists(threadBucket(thread)) {
		return threadHidden(r, thread)
	}
	// A sub-bucket whose flag damage cleared (ids/ a value: the thread
	// read as one without history, and CopyThread said "no checkpoint to
	// copy" with cp/ full) is damage, not an empty thread.
	if err := knownThreadBuckets(r, thread); err != nil {
		return fmt.Errorf("thread %q: %w", thread, err)
	}
	var err error
	// Its error is harmless, as hasCheckpointRecords': the walk yields the
	// bucket's first key before it can meet one out of order.
	_ = r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, _ := parseOrderKey(k)
		err = errRecordMissing(thread, ns, id)
		return errStop
	})
	if err == nil && !hasCheckpointRecords(r, thread) {
		err = listedNamespace(r, thread)
	}
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

// noteNamespace lists namespace ns of thread in the directory when this
// write starts it (call it, as noteThread, before the first Put of a write
// without a parent: with one, the namespace holds a checkpoint already). A
// namespace listed with no checkpoint found is ErrCorrupt: the write would
// start again, on top of the hidden one, a history already written.
func noteNamespace(w writer, thread, ns string) error {
	k := nsDirKey(thread, ns)
	if !w.Has(dirPath, k) {
		return w.Put(dirPath, k, nil)
	}
	if !hasNamespace(w, thread, ns) {
		return errNamespaceHidden(thread, ns)
	}
	return nil
}

// dropNamespace deletes the directory entry of namespace ns of thread
// (retention deleted its last checkpoint).
func dropNamespace(w writer, thread, ns string) error {
	return w.Del(dirPath, nsDirKey(thread, ns))
}

// listNamespaces lists in the directory every namespace thread's cp/
// holds (CopyThread's destination): one seek a namespace.
func listNamespaces(w writer, thread string) error {
	for start := []byte(nil); ; {
		ns, next, ok := nextNamespace(w, thread, start)
		if !ok {
			return nil
		}
		if err := w.Put(dirPath, nsDirKey(thread, ns), nil); err != nil {
			return err
		}
		start = next
	}
}

// nextNamespace returns the namespace of the first key of thread's cp/ at
// or after start (nil: the first), and where the search for the one after
// it starts; ok is false when there is none. A key whose namespace does
// not parse (Verify lists it) is passed over.
func nextNamespace(r reader, thread string, start []byte) (ns string, next []byte, ok bool) {
	// Its error is dropped: CopyThread's copy wrote this cp/ whole in this
	// transaction (bbolt sorted it), Verify's page check reports any key
	// out of order, and the upgrade only lists fewer namespaces.
	_ = r.Scan(threadPath(thread, bucketCheckpoints), nil, start, false, func(k, _ []byte) error {
		n, _, err := readNS(k)
		if err != nil {
			return nil
		}
		ns, ok = n, true
		return errStop
	})
	if !ok {
		return "", nil, false
	}
	return ns, nsKeyEnd(ns), true
}

// nsKeyEnd is the smallest key greater than every key of namespace ns
// (its nsKey plus one: the length prefix is never all 0xff bytes).
func nsKeyEnd(ns string) []byte {
	end := nsKey(ns)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// dropThread drops thread's bucket and its directory entries (its own and
// its namespaces').
func dropThread(w writer, thread string) error {
	if err := w.DropBucket(threadBucket(thread)); err != nil {
		return err
	}
	var keys [][]byte
	if err := w.Scan(dirPath, dirKey(thread), nil, false, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	_, err := delAll(w, dirPath, keys)
	return err
}

// copyNamespaces lists in the directory, for thread to, every namespace
// it lists for thread from.
func copyNamespaces(w writer, from, to string) error {
	var nss []string
	if err := w.Scan(dirPath, dirKey(from), nil, false, func(k, _ []byte) error {
		if _, ns, isNS, ok := parseDirKey(k); ok && isNS {
			nss = append(nss, ns)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, ns := range nss {
		if err := w.Put(dirPath, nsDirKey(to, ns), nil); err != nil {
			return err
		}
	}
	return nil
}

// hiddenNamespaces returns errNamespaceHidden for the first namespace the
// directory lists for thread without a checkpoint found (Export's check);
// nil when there is none. A walk of the directory that passed over a key
// out of order is ErrCorrupt naming the thread: the namespace of that key
// went unchecked.
func hiddenNamespaces(r reader, thread string) error {
	var nss []string
	if err := r.Scan(dirPath, dirKey(thread), nil, false, func(k, _ []byte) error {
		if _, ns, isNS, ok := parseDirKey(k); ok && isNS {
			nss = append(nss, ns)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("thread %q: the directory of threads: %w", thread, err)
	}
	for _, ns := range nss {
		if !hasNamespace(r, thread, ns) {
			return errNamespaceHidden(thread, ns)
		}
	}
	return nil
}
