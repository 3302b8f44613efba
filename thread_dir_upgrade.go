package ckpt

// The upgrade steps that build the directory (dirStep, nsStep): run once per file, kept apart from thread_dir.go's reads and writes.

import (
	"bytes"
	"fmt"
)

// dirFormat is the first format whose files keep the directory of threads,
// nsFormat the first whose directory lists namespaces too.
const (
	dirFormat uint32 = 7
	nsFormat  uint32 = 8
)

// dirStep, a step of the upgrade to dirFormat, lists in the directory up to
// budget threads from *after on (nil: the first) and advances it. Listing a
// thread again writes the same entry, so a run killed before the marker is
// redone from the start. A thread is listed under its bucket's name only
// once its records' sums confirm it (threadNameChecks).
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
		if err := threadNameChecks(w, string(name)); err != nil {
			return false, err
		}
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

// nameChecks is how many checkpoint records of a thread threadNameChecks
// tries before it calls the thread's name damaged: a record damaged on its
// own does not make the upgrade refuse the file while another confirms
// the name.
const nameChecks = 3

// threadNameChecks returns ErrCorrupt when the checkpoint records of
// thread's bucket carry sums over a thread's name (format 6 on) and none
// of the first nameChecks of them checks out under thread: damage changed
// the bucket's name, a key no sum covers. Listed under that name, the
// thread would be lost without a word, the directory vouching for the
// name (the upgrade of a file before format 7, or of one of format 7
// written before the directory). Records of older formats (sums over key
// and record, or the record alone) cannot tell: nil when the first
// 4*nameChecks records hold too few of format 6.
func threadNameChecks(r reader, thread string) error {
	ts := seedOf(thread)
	tried, looked := 0, 0
	var bad error
	err := r.Scan(threadPath(thread, bucketCheckpoints), nil, nil, false, func(k, v []byte) error {
		if looked++; looked > 4*nameChecks {
			return errStop // records of older formats: no telling
		}
		if len(v) == 0 || v[0]&sumMask != sumThreaded {
			return nil
		}
		if _, err := checkSum("checkpoint", ts, k, v); err != nil {
			bad = err
		} else {
			bad = nil
			return errStop
		}
		tried++
		return keepScanning(tried < nameChecks)
	})
	if err == nil && bad != nil {
		err = fmt.Errorf("%w: thread %q: none of its first %d checkpoint records checks out under its name (a damaged key renamed its bucket?): %v", ErrCorrupt, thread, tried, bad)
	}
	return err
}

// nsPos is where the next step of the upgrade to nsFormat starts.
type nsPos struct {
	cleared bool   // the directory holds no namespace entry from before the upgrade
	clear   []byte // the first key of dir/ still to look at while clearing
	thread  []byte // the thread being listed; nil: the one after done
	done    []byte // the last thread listed whole (nil: none yet)
	key     []byte // where thread's next namespace is looked for in its cp/
}

// nsStep, a step of the upgrade to nsFormat, looks at up to budget keys or
// namespaces from *pos on and advances it. It first deletes every
// namespace entry the directory holds (a killed upgrade's, which a build
// of format 7 that ran on the file since does not keep), then lists the
// namespaces of every thread's cp/ (one seek each: nextNamespace). A run
// killed before the marker is redone from the start.
func nsStep(w writer, pos *nsPos, budget int) (done bool, err error) {
	if !pos.cleared {
		var dead [][]byte
		looked, full := 0, false
		if err := w.Scan(dirPath, nil, pos.clear, false, func(k, _ []byte) error {
			if looked == budget {
				pos.clear, full = bytes.Clone(k), true
				return errStop
			}
			looked++
			if _, _, isNS, ok := parseDirKey(k); ok && isNS {
				dead = append(dead, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return false, err
		}
		pos.cleared = !full
		_, err := delAll(w, dirPath, dead)
		return false, err
	}
	var keys [][]byte
	for range budget {
		if pos.thread == nil {
			next, err := nextThread(w, pos.done)
			if err != nil {
				return false, err
			}
			if next == nil {
				done = true
				break
			}
			pos.thread, pos.key = next, nil
		}
		ns, next, ok := nextNamespace(w, string(pos.thread), pos.key)
		if !ok {
			pos.done, pos.thread = pos.thread, nil
			continue
		}
		keys = append(keys, nsDirKey(string(pos.thread), ns))
		pos.key = next
	}
	for _, k := range keys {
		if err := w.Put(dirPath, k, nil); err != nil {
			return false, err
		}
	}
	return done, nil
}
