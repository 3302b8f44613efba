package ckpt

// Verify's checks of the directory of threads and of namespaces, kept apart from thread_dir.go's reads and writes.

import (
	"fmt"
	"maps"
	"slices"
)

// verifyDir is the directory part of Verify for a file that keeps one:
// every thread listed has its bucket, every bucket its entry (threads
// being imported are listed too). A namespace listed whose thread has no
// bucket is reported with the thread; verifyNamespaces checks the
// namespaces of the threads found. lists: the file lists namespaces
// (format 8); one of format 7 may hold namespace entries a killed upgrade
// left, which a build of format 7 neither keeps nor deletes (its
// dropThread leaves them): not read, as its reads do not read them.
func verifyDir(r reader, rep *VerifyReport, lists bool) {
	var last string // the thread whose missing bucket was reported
	rep.scanned("", dirPath[0], r.Scan(dirPath, nil, nil, false, func(k, _ []byte) error {
		thread, _, isNS, ok := parseDirKey(k)
		switch {
		case ok && isNS && !lists:
		case !ok:
			rep.add(Problem{Check: "thread", Detail: fmt.Sprintf("directory key %x is malformed", k)})
		case isNS && thread == last:
		case !threadFound(r, thread): // a damaged bucket is found: its thread's problem is told already
			last = thread
			rep.add(Problem{Check: "thread", Thread: thread, Detail: "in the directory of threads, its bucket is not found (a damaged key or page hides its checkpoints)"})
		}
		return nil
	}))
	r.Buckets(threadsRoot, nil, func(name []byte) error {
		if !r.Has(dirPath, dirKey(string(name))) {
			rep.add(Problem{Check: "thread", Thread: string(name), Detail: "thread bucket missing from the directory of threads (a damaged key or page, or its name changed)"})
		}
		return nil
	})
}

// dirlessFile reports whether r, a file of the given format, is one of
// format 7 written before the directory of threads joined that format
// (both came in one unreleased format): no dir/ bucket, and a thread. The
// upgrade lists its threads (upgradeFormat), and until then it is read as
// one without a directory: Verify does not hold its threads to one. A file
// of format 8 without one lost it to damage, which Verify reports (every
// thread missing from it): not listed again in silence.
func dirlessFile(r reader, format uint32) (bool, error) {
	if format != dirFormat || r.Exists(dirPath) {
		return false, nil
	}
	first, err := nextThread(r, nil)
	return first != nil, err
}

// verifyNamespaces is the namespace part of Verify for a file that lists
// them (format 8), for one thread whose bucket is found: every namespace
// listed holds a checkpoint, every namespace of a checkpoint record or of
// a history-order entry is listed.
func verifyNamespaces(r reader, thread string, rep *VerifyReport) {
	listed := map[string]bool{}
	rep.scanned(thread, dirPath[0], r.Scan(dirPath, dirKey(thread), nil, false, func(k, _ []byte) error {
		if _, ns, isNS, ok := parseDirKey(k); ok && isNS {
			listed[ns] = true
		}
		return nil
	}))
	found := map[string]bool{}
	for start := []byte(nil); ; {
		ns, next, ok := nextNamespace(r, thread, start)
		if !ok {
			break
		}
		found[ns] = true
		start = next
	}
	ordered := map[string]bool{}
	rep.scanned(thread, bucketOrder, r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		if _, ns, err := parseOrderKey(k); err == nil {
			ordered[ns] = true
		}
		return nil
	}))
	for _, ns := range slices.Sorted(maps.Keys(listed)) {
		if !found[ns] {
			rep.add(Problem{Check: "namespace", Thread: thread, Namespace: ns, Detail: "in the directory of threads, none of its checkpoints is found (a damaged key or page hides them)"})
		}
	}
	for ns := range maps.Keys(ordered) {
		found[ns] = true
	}
	for _, ns := range slices.Sorted(maps.Keys(found)) {
		if !listed[ns] {
			rep.add(Problem{Check: "namespace", Thread: thread, Namespace: ns, Detail: "namespace with checkpoints missing from the directory of threads (a damaged key or page, or its name changed)"})
		}
	}
}
