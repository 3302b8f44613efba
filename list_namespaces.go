package ckpt

// A List of a thread's every namespace walks the thread's history order, a
// List of every thread the global index: each shows the namespaces its
// walk meets. One whose records damage hid whole (its cp/ and md/ keys,
// with its history-order and index entries, or with them moved under
// another namespace by a flipped byte) leaves nothing for the walk to
// meet, and the page checks (list_gaps.go) compare a page with records
// that are gone too: the List was short by a whole subgraph and said
// nothing, while a read of that namespace, Export and Verify found it
// through the directory (thread_dir.go). So such a List checks, once for
// each thread it finds and before it yields anything of that thread, that
// every namespace the directory lists for the thread holds a checkpoint
// (checkNamespaces); a List of one namespace of every thread checks that
// namespace only. Threads and Thread do the same for the namespaces they
// count (summariseThread).
//
// Cost: for each thread a List finds, one seek in dir/ and the keys of the
// thread's namespaces there, then one seek in cp/ per namespace listed,
// once per List (a List remembers the threads it checked, up to
// maxNSChecked, then a page's own). Nothing for a List of one namespace
// of one thread (its empty page looks there already: emptyHidden), nor on
// a file that lists no namespace (format 7 and before, read-only).
//
// Concurrent writers, retention and DeleteThread never make a clean store
// look damaged here: a namespace's directory entry is written in the
// transaction that writes its first checkpoint and deleted in the one
// that deletes its last (or the thread), and the check reads one
// snapshot, the page's.

import (
	"fmt"
	"slices"
)

// maxNSChecked bounds how many threads a List remembers having checked
// (a List of every thread may find millions): past it, a thread is checked
// again by each page that finds it, at most once a page.
const maxNSChecked = 4096

// nsChecked is what a List remembers of the threads whose namespaces it
// checked: the first few in place (a List of one thread checks one, a
// List of 10 over every thread about 10), searched in order, which is
// cheaper than a map's hashing at that size; then a map.
type nsChecked struct {
	few     [16]string
	nFew    int
	threads map[string]struct{}
	page    []string // past maxNSChecked: the threads the current page checked
}

// done reports whether thread was checked, and notes that it now is.
func (c *nsChecked) done(thread string) bool {
	if slices.Contains(c.few[:c.nFew], thread) {
		return true
	}
	if _, ok := c.threads[thread]; ok || slices.Contains(c.page, thread) {
		return true
	}
	switch {
	case c.nFew < len(c.few):
		c.few[c.nFew] = thread
		c.nFew++
	case len(c.threads) < maxNSChecked:
		if c.threads == nil {
			c.threads = make(map[string]struct{})
		}
		c.threads[thread] = struct{}{}
	default:
		c.page = append(c.page, thread)
	}
	return false
}

// newPage forgets the threads the previous page alone remembered.
func (c *nsChecked) newPage() { c.page = c.page[:0] }

// checkNamespaces returns ErrCorrupt when the directory lists a namespace
// of the reader's thread (setThread) of which cp/ holds no checkpoint:
// errNamespaceHidden naming the first, or errThreadHidden when the
// thread's bucket is not found. nil when every namespace listed is found,
// and on a file that lists no namespace.
func (t *tupleReader) checkNamespaces() error {
	if t.unlisted {
		return nil
	}
	t.kbuf = appendLen16(t.kbuf[:0], t.thread)
	t.hist.dirLen = len(t.kbuf)
	t.hist.hidden = nil
	err := t.r.Scan(dirPath, t.kbuf, nil, false, t.hist.onDir)
	if err == nil && t.hist.hidden != nil {
		if !t.r.Exists(t.paths[0][:2]) { // the thread's bucket (setThread)
			return errThreadHidden(t.thread)
		}
		_, ns, _, _ := parseDirKey(t.hist.hidden)
		err = errNamespaceHidden(t.thread, ns)
	}
	t.hist.hidden = nil
	return err
}

// dirNamespace is checkNamespaces' callback, one directory key of the
// thread each: len16(thread) | thread, then for a namespace len16(ns) |
// ns, which is the prefix of the namespace's keys in cp/ (nsKey).
func (t *tupleReader) dirNamespace(k, _ []byte) error {
	prefix := k[t.hist.dirLen:]
	if len(prefix) == 0 {
		return nil // the thread's own entry
	}
	if _, _, _, ok := parseDirKey(k); !ok {
		return nil // malformed: Verify reports it
	}
	t.found = nil
	_ = t.r.Scan(t.cp, prefix, nil, false, t.onLatest)
	found := t.found != nil
	t.found, t.foundVal = nil, nil
	if !found {
		t.hist.hidden = k
		return errStop
	}
	return nil
}

// threadFound is the check of a List of every thread that finds thread
// for the first time: every namespace the directory lists for it holds a
// checkpoint (ns nil), or namespace *ns does when listed (a List of one
// namespace of every thread). And the thread is stored: an index entry is
// written and deleted with its thread's records, so one naming no thread
// is damage (a flipped byte of its thread's name or length), which a
// List of one namespace passed over as another namespace's entry before
// it looked for the checkpoint, and read the entry's own thread short
// (TestH175IndexKeyNamingNoThreadUnderANamespaceFilter). One lookup per
// thread a List meets.
func (t *tupleReader) threadFound(thread string, ns *string) error {
	if !t.r.Exists(threadBucket(thread)) {
		return fmt.Errorf("%w: the global index names thread %q, which is not stored", ErrCorrupt, thread)
	}
	if ns != nil {
		if t.unlisted {
			return nil
		}
		return namespaceHidden(t.r, thread, *ns)
	}
	t.setThread(thread)
	return t.checkNamespaces()
}

// namespacesCounted is summariseThread's check: every namespace the
// directory lists for thread holds a checkpoint and is among ordered, the
// namespaces of the thread's history order. It reads the whole history
// order already, so one seek in cp/ per namespace listed adds little.
func namespacesCounted(r reader, thread string, ordered map[string]bool) error {
	var listed []string
	if err := r.Scan(dirPath, dirKey(thread), nil, false, func(k, _ []byte) error {
		if _, ns, isNS, ok := parseDirKey(k); ok && isNS {
			listed = append(listed, ns)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, ns := range listed {
		if !hasNamespace(r, thread, ns) {
			return errNamespaceHidden(thread, ns)
		}
		if !ordered[ns] {
			return fmt.Errorf("%w: thread %q namespace %q: in the directory of threads, its checkpoints are missing from the thread's history order", ErrCorrupt, thread, ns)
		}
	}
	return nil
}
