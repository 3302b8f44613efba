package ckpt

// Verify: a read-only check of every record, reference and checksum of the
// store (and, with the writers paused, bbolt's pages), reported as a list of
// Problems; verify_sums.go checks the records' checksums.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// Problem is one inconsistency found by Verify.
type Problem struct {
	// Check names what was checked: "file" (bbolt's page check; with
	// Thread, that thread's buckets lead into damaged pages no read
	// enters, and its records went unchecked), "format",
	// "mark" (the file's mark of the last write-ahead log group it holds,
	// or its binding to its log: damaged, or the two disagree),
	// "checkpoint", "metadata", "value", "write", "order", "index",
	// "thread" (the directory of threads and the threads' buckets
	// disagree: thread_dir.go), "namespace" (the directory's namespaces
	// and a thread's checkpoints disagree) or "import" (a thread of an import not yet published: one running in
	// this handle; a read-only handle hides the threads of an import a
	// killed process left, and a read-write Open deletes them).
	Check        string `json:"check"`
	Thread       string `json:"thread,omitempty"`
	Namespace    string `json:"ns,omitempty"`
	CheckpointID string `json:"checkpoint_id,omitempty"`
	// Detail says what is wrong, precisely enough to find it.
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	var b bytes.Buffer
	b.WriteString(p.Check)
	if p.Thread != "" {
		fmt.Fprintf(&b, " thread=%q", p.Thread)
	}
	if p.Namespace != "" {
		fmt.Fprintf(&b, " ns=%q", p.Namespace)
	}
	if p.CheckpointID != "" {
		fmt.Fprintf(&b, " checkpoint=%s", p.CheckpointID)
	}
	b.WriteString(": ")
	b.WriteString(p.Detail)
	return b.String()
}

// VerifyReport is the outcome of Verify: what was checked and what is
// wrong.
type VerifyReport struct {
	Threads       int `json:"threads"`
	Checkpoints   int `json:"checkpoints"`
	PendingWrites int `json:"pending_writes"`
	ChannelValues int `json:"channel_values"`
	IndexEntries  int `json:"index_entries"`
	// DamagedThreads names, in id order, the threads in whose own records
	// or pages a problem was found (each named by a Problem, unless past
	// the first 1,000); every other of the Threads checked is sound as far
	// as its own checks go: what a user can save of a damaged file
	// (Export's SkipDamaged leaves the damaged ones out).
	DamagedThreads []string `json:"damaged_threads,omitempty"`
	// Incomplete says the check stopped before it was done: damage
	// outside any one thread's records (bbolt's pages, the list of
	// threads, a page bbolt failed on) ended it, or left out the checks
	// of a bucket every thread's check reads in (the global index, the
	// directory of threads, whose pages lead into a cycle), as the
	// Problems say.
	// Threads counts the threads checked, and DamagedThreads names the
	// damaged among those only: a thread named nowhere is not known to be
	// sound. Never set with PagesOnly, which checks no thread.
	Incomplete bool `json:"incomplete,omitempty"`
	// Problems lists the first 1,000 problems found (so verifying a badly
	// damaged file takes bounded memory); Truncated counts the ones found
	// beyond that.
	Problems  []Problem `json:"problems"`
	Truncated int       `json:"truncated"`

	// lostIndex and lostDir: that bucket's pages lead into a cycle
	// (sharedLost), and the checks leave it unread.
	lostIndex, lostDir bool
}

// sharedLost tells whether the top bucket, which the check of every
// thread reads in (the global index, the directory of threads), is one
// whose pages lead into a cycle on a read-only handle that kept the file
// (engine.HasDamaged), and if so reports it once and the check
// incomplete: damage outside any one thread. Met under each thread's
// guard instead, it named every thread damaged, their own records sound.
func (r *VerifyReport) sharedLost(rd reader, bucket []byte) bool {
	err := engine.Guard("verify: open bucket "+string(bucket), func() error { rd.Exists(bucketPath{bucket}); return nil })
	if err != nil {
		r.add(Problem{Check: "file", Detail: err.Error() + " (its checks left out)"})
		r.Incomplete = true
	}
	return err != nil
}

// OK reports whether Verify found nothing wrong.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 && r.Truncated == 0 }

// maxProblems bounds the problems a VerifyReport lists, so verifying a badly
// damaged file takes bounded memory. VerifyReport.Problems's doc says 1,000.
const maxProblems = 1000

func (r *VerifyReport) add(p Problem) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
	} else {
		r.Truncated++
	}
}

// scanned reports a scan of the thread's bucket sub that stopped on
// damage (the engine's Scan: ErrCorrupt at the first key out of order):
// the keys after it went unchecked, so the thread is not sound, though
// nothing the check saw was wrong.
func (r *VerifyReport) scanned(thread string, sub []byte, err error) {
	if err != nil {
		r.add(Problem{Check: "file", Thread: thread, Detail: fmt.Sprintf("bucket %s not read through, the rest unchecked: %v", sub, err)})
	}
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Progress, if set, is called with the number of threads checked so
	// far, from a goroutine of Verify's, one call at a time and outside
	// Verify's read (verify_progress.go), so that it may call the store,
	// write to it too, or wait for a goroutine that does: called inside,
	// such a write could wait for Verify, which waited for the callback.
	// Counts checked while a call runs come together in the next call, so
	// it may skip counts, never goes back, and lags the check by up to
	// one call; the last count is always delivered. Verify returns once
	// the last call has returned, and none runs after; a cancelled ctx
	// ends Verify's read at once, and Verify then waits for the call
	// under way, if any. A panic in it is raised again by Verify.
	Progress func(threadsDone int)
	// PagesOnly checks the file's pages (bbolt's page check, the branch
	// keys, the meta pages) and not the store's records: what a write
	// needs sound before it goes in (bbolt's writes trust the pages, and
	// on a damaged one miss keys or free a page twice).
	PagesOnly bool
}

// Verify checks the store in one read transaction: bbolt's page-level
// consistency check, then the store's own invariants: the format marker;
// every checkpoint record, its metadata and every channel value it refers
// to exist and decode; every pending write and stored value decodes and
// belongs to a stored checkpoint; the thread order and the global index
// agree with the checkpoints both ways; every record's checksum matches
// (each bad one listed with thread, checkpoint, channel and version) and,
// in a format-3 file, no record lacks one. Problems are reported, not
// returned: the error is for a check that could not run (closed store,
// cancelled context). A panic from a damaged page is reported as a problem.
//
// Verify is safe on a live store. bbolt's page check reads the freelist,
// which a bbolt write transaction changes: beside one it reports pages
// falsely ("unreachable unfreed", "reachable freed") or races on the
// freelist's map. So the page check never runs beside a bbolt write. With
// the write-ahead log (the default) it runs in a read transaction begun
// while the applier is paused (writes go on into the log meanwhile, only
// the move into bbolt waits; should 32 MB of log pile up unapplied before
// the page check ends, writes wait for it too), and the store's own checks
// then run on a snapshot like any read. With NoWAL, Verify runs inside the commit loop,
// in its write transaction, so writes wait until it is done. Read-only,
// nothing in this process writes and no other process may.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	// Deferred: the callback's last call ends after the read, before
	// Verify returns.
	pump := startProgress(opts.Progress)
	defer pump.finish()
	opts.Progress = pump.noter()
	rep := &VerifyReport{Problems: []Problem{}}
	check := func(r reader) error { return verifyAll(ctx, r, s.keys, rep, opts, s.path) }
	if s.readOnly {
		return rep, s.viewDamaged(ctx, check)
	}
	if s.eng.Logging() {
		metaErr, err := s.checkPagesPaused(ctx, rep)
		if err != nil || !rep.OK() {
			// Walking damaged pages may return garbage or fault: stop at
			// what bbolt itself reports.
			rep.Incomplete = !opts.PagesOnly
			return rep, err
		}
		// A damaged meta page spoils no page the transaction reads: the
		// store's own checks still run.
		addMetaProblem(rep, metaErr)
		if opts.PagesOnly {
			return rep, nil
		}
		return rep, s.view(ctx, func(r reader) error { return verifyAll(ctx, r, s.keys, rep, opts, "") })
	}
	// Sync: wait for the op to run, whatever the store's default. Through
	// the read gate, as every read: an Import under way between two of
	// its batches is not one left unfinished (TestH118VerifyBesideImport).
	err := s.write(WithWriteOptions(ctx, WriteOptions{Durability: Sync}), func(w writer) error { return check(s.eng.Gated(w)) })
	return rep, err
}

// checkPagesPaused runs bbolt's page check with the applier paused: it
// holds applyMu, which the applier holds around each of its bbolt write
// transactions (the only ones a logging store runs), and begins its read
// transaction after the last commit, so the freelist it reads matches
// the pages its transaction reaches.
//
// It returns, apart, a damaged meta page (engine.CheckMeta), read while
// no commit can write one.
func (s *Store) checkPagesPaused(ctx context.Context, rep *VerifyReport) (metaErr, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	err = engine.Guard("verify: page check", func() error {
		tx, _, release, err := s.eng.Hold() // the applier paused, the handle kept from Compact's swap
		if err != nil {
			return err
		}
		defer release()
		defer engine.EndRead(tx)
		if err := engine.TouchAll(tx, s.path); err != nil {
			return err
		}
		(engine.NewBoltView(tx)).CheckPages(func(e error) bool {
			rep.add(Problem{Check: "file", Detail: "page check: " + e.Error()})
			return len(rep.Problems) < maxProblems
		})
		metaErr = engine.CheckMeta(tx, s.path)
		return nil
	})
	if err != nil {
		rep.add(Problem{Check: "file", Detail: err.Error()})
	}
	return metaErr, nil
}

// addMetaProblem reports a damaged meta page (engine.CheckMeta), if any.
func addMetaProblem(rep *VerifyReport, err error) {
	if err != nil {
		rep.add(Problem{Check: "file", Detail: err.Error()})
	}
}

// verifyAll runs the store's checks on r; with file (the store's path)
// set, bbolt's page check and the checks that read the file itself first.
func verifyAll(ctx context.Context, r reader, kr *keyring, rep *VerifyReport, opts VerifyOptions, file string) (err error) {
	// A damaged page can make bbolt panic or fault on a bad address; both
	// become a reported problem instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			rep.add(Problem{Check: "file", Detail: fmt.Sprintf("reading the file failed: %v", p)})
			rep.Incomplete = !opts.PagesOnly
			err = nil
		}
	}()
	// confined: a read-only handle whose open kept the file though some
	// buckets' pages lead into a cycle (engine.HasDamaged): a read of one
	// gets ErrCorrupt, every other bucket reads as in a sound file. The
	// store's checks then go on past the page check, each thread's under
	// a guard of its own, so that a user learns which threads are lost
	// and which sound (and saves those: Export's SkipDamaged).
	confined := engine.HasDamaged(engine.TxOf(r))
	if fc, ok := r.(engine.FileChecker); ok && file != "" {
		touched := true
		if tx := engine.TxOf(r); tx != nil {
			if err := engine.TouchAll(tx, file); err != nil {
				rep.add(Problem{Check: "file", Detail: err.Error()})
				if !confined {
					rep.Incomplete = !opts.PagesOnly
					return nil
				}
				touched = false // bbolt's check would follow the cycle
			}
		}
		if touched {
			fc.CheckPages(func(e error) bool {
				rep.add(Problem{Check: "file", Detail: "page check: " + e.Error()})
				return len(rep.Problems) < maxProblems
			})
		}
		if !rep.OK() && !confined {
			// Walking damaged pages may return garbage or fault: stop at
			// what bbolt itself reports.
			rep.Incomplete = !opts.PagesOnly
			return nil
		}
		// The meta pages' check reads the file's first two pages and
		// follows no page id: it runs past a cycle too.
		if tx := engine.TxOf(r); tx != nil {
			addMetaProblem(rep, engine.CheckMeta(tx, file))
		}
	}
	if opts.PagesOnly {
		return nil
	}
	if _, err := formatOf(r); err != nil {
		rep.add(Problem{Check: "format", Detail: err.Error()})
		rep.Incomplete = true
		return nil
	}
	// The mark and the binding are checked against each other here, not
	// only against a log: a store closed cleanly has none (Mark.Check).
	mc := appliedMark.Check(r)
	if mc.BadMark != nil {
		fix := " (`ckpt recover` puts it back where the binding says)"
		switch {
		case mc.Bind.ID == 0:
			// recoverLog's fallbacks when no binding says where it was.
			fix = " (the file's binding to its log, which would say where it was, is missing or damaged too: `ckpt recover` " +
				"takes it from the log the file names as live, or writes it as 0 where no log beside the file holds a record)"
		case appliedMark.BadLength(r):
			// Read as group 0, as a read-write Open takes it: that Open
			// writes it so, with its new log bound at 0 (openWAL).
			fix = " (`ckpt recover` puts it back where the binding says; a read-write open with the log on writes it as group 0, " +
				"where it binds its new log)"
		}
		rep.add(Problem{Check: "mark", Detail: mc.BadMark.Error() + fix})
	}
	if mc.BadBinding != nil {
		rep.add(Problem{Check: "mark", Detail: mc.BadBinding.Error() + " (`ckpt recover` removes it)"})
	}
	importing, _, _, err := checkedImports(r)
	if err != nil {
		rep.add(Problem{Check: "import", Detail: err.Error()})
	}
	format, _ := formatOf(r)
	if confined {
		rep.lostIndex = rep.sharedLost(r, bucketIndex)
		rep.lostDir = format >= dirFormat && rep.sharedLost(r, dirPath[0])
	}
	if err := r.Buckets(bucketPath{bucketThreads}, nil, func(name []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Threads++
		if importing[string(name)] {
			rep.add(Problem{Check: "import", Thread: string(name), Detail: "left by an import that did not finish: the next read-write open deletes it"})
			return nil
		}
		found := len(rep.Problems) + rep.Truncated
		checkThread := func() error {
			verifyThread(r, kr, string(name), rep)
			verifyRecordSums(r, string(name), rep)
			if format >= tallyFormat {
				verifyTallies(r, string(name), rep)
			}
			if format >= nsFormat && !rep.lostDir {
				verifyNamespaces(r, string(name), rep)
			}
			return nil
		}
		if confined {
			// A damaged bucket of this thread panics (engine's
			// checkDamaged): this thread's problem, the walk goes on.
			if err := engine.Guard("verify: read the thread", checkThread); err != nil {
				rep.add(Problem{Check: "file", Thread: string(name), Detail: err.Error()})
			}
		} else {
			_ = checkThread()
		}
		if len(rep.Problems)+rep.Truncated > found {
			rep.DamagedThreads = append(rep.DamagedThreads, string(name))
		}
		if opts.Progress != nil {
			opts.Progress(rep.Threads)
		}
		return nil
	}); err != nil {
		if !errors.Is(err, ErrCorrupt) || ctx.Err() != nil {
			return err
		}
		// The walk of the list of threads met a damaged page of it
		// (keys out of order): a problem of the file, and the threads
		// after it went unchecked.
		rep.add(Problem{Check: "file", Detail: "the list of threads: " + err.Error()})
		rep.Incomplete = true
	}
	// A dirless file of format 7 (dirlessFile) has no directory to check
	// the threads against until a read-write Open writes it: checked, each
	// of its threads was reported missing from it, an intact file called
	// damaged (read-only, as `ckpt verify` opens it).
	if !rep.lostDir {
		if dirless, err := dirlessFile(r, format); err != nil {
			return err
		} else if format >= dirFormat && !dirless {
			verifyDir(r, rep, format >= nsFormat)
		}
	}
	if rep.lostIndex {
		return ctx.Err()
	}
	rep.scanned("", bucketIndex, r.Scan(bucketPath{bucketIndex}, nil, nil, false, func(k, _ []byte) error {
		rep.IndexEntries++
		id, thread, ns, err := parseIndexKey(k)
		if err != nil {
			rep.add(Problem{Check: "index", Detail: fmt.Sprintf("key %x: %v", k, err)})
			return nil
		}
		if _, lost := slices.BinarySearch(rep.DamagedThreads, thread); confined && lost { // named in id order
			// Its checkpoints may lie in a bucket no read may open; the
			// thread is named damaged already.
			return nil
		}
		if r.Get(threadPath(thread, bucketCheckpoints), checkpointKey(ns, id)) == nil {
			rep.add(Problem{Check: "index", Thread: thread, Namespace: ns, CheckpointID: idString(id),
				Detail: "global index entry for a checkpoint that is not stored"})
		}
		return nil
	}))
	return ctx.Err()
}

// verifyThread checks one thread's buckets against each other.
func verifyThread(r reader, kr *keyring, thread string, rep *VerifyReport) {
	cpPath := threadPath(thread, bucketCheckpoints)
	mdPath := threadPath(thread, bucketMetadata)
	blPath := threadPath(thread, bucketBlobs)
	ts := seedOf(thread)
	problem := func(check, ns string, id *[idLen]byte, format string, args ...any) {
		p := Problem{Check: check, Thread: thread, Namespace: ns, Detail: fmt.Sprintf(format, args...)}
		if id != nil {
			p.CheckpointID = idString(*id)
		}
		rep.add(p)
	}
	rep.scanned(thread, bucketCheckpoints, r.Scan(cpPath, nil, nil, false, func(k, v []byte) error {
		rep.Checkpoints++
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			problem("checkpoint", "", nil, "key %x: %v", k, err)
			return nil
		}
		rec, err := decodeCheckpointRecord(ts, k, v)
		if err != nil {
			problem("checkpoint", ns, &id, "record does not decode: %v", err)
		}
		if md := r.Get(mdPath, k); md == nil {
			problem("metadata", ns, &id, "checkpoint has no metadata record")
		} else if _, err := decodeMetadata(ts, k, md); err != nil {
			problem("metadata", ns, &id, "metadata does not decode: %v", err)
		}
		if !r.Has(threadPath(thread, bucketOrder), orderKey(id, ns)) {
			problem("order", ns, &id, "checkpoint missing from the thread's history order")
		}
		if !rep.lostIndex && !r.Has(bucketPath{bucketIndex}, indexKey(id, thread, ns)) {
			problem("index", ns, &id, "checkpoint missing from the global index")
		}
		if rec == nil {
			return nil
		}
		if len(rec.Parent) != 0 && len(rec.Parent) != idLen {
			problem("checkpoint", ns, &id, "parent id has %d bytes", len(rec.Parent))
		}
		chans := make([]string, 0, len(rec.Versions))
		for ch := range rec.Versions {
			chans = append(chans, ch)
		}
		sort.Strings(chans)
		for _, ch := range chans {
			if r.Get(blPath, blobKey(ns, ch, rec.Versions[ch])) == nil {
				problem("value", ns, &id, "channel %q version %q: no value stored", ch, rec.Versions[ch])
			}
		}
		return nil
	}))
	rep.scanned(thread, bucketMetadata, r.Scan(mdPath, nil, nil, false, func(k, _ []byte) error {
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			problem("metadata", "", nil, "key %x: %v", k, err)
		} else if r.Get(cpPath, k) == nil {
			problem("metadata", ns, &id, "metadata of a checkpoint that is not stored")
		}
		return nil
	}))
	rep.scanned(thread, bucketBlobs, r.Scan(blPath, nil, nil, false, func(k, v []byte) error {
		rep.ChannelValues++
		ns, ch, ver, err := parseBlobKey(k)
		if err != nil {
			problem("value", "", nil, "key %x: %v", k, err)
			return nil
		}
		val, ok, err := resolveBlob(r, kr, thread, ts, ns, ch, ver, v)
		if err == nil && ok {
			err = soundValue(val)
		}
		if errors.Is(err, ErrKey) && kr == nil {
			err = nil // sealed, checksum checked; opened only with keys
		}
		if err != nil {
			problem("value", ns, nil, "channel %q version %q does not decode: %v", ch, ver, err)
		}
		return nil
	}))
	rep.scanned(thread, bucketWrites, r.Scan(threadPath(thread, bucketWrites), nil, nil, false, func(k, v []byte) error {
		rep.PendingWrites++
		ns, id, task, idx, err := parseFullWriteKey(k)
		if err != nil {
			problem("write", "", nil, "key %x: %v", k, err)
			return nil
		}
		if r.Get(cpPath, checkpointKey(ns, id)) == nil {
			problem("write", ns, &id, "pending write (task %q, idx %d) of a checkpoint that is not stored", task, idx)
		}
		rec, err := openWriteRecord(kr, thread, ts, k, v)
		if errors.Is(err, ErrKey) && kr == nil {
			rec, err = decodeWriteRecord(ts, k, v) // sealed: checked without opening
		} else if err == nil {
			err = soundValue(Raw(rec.Value))
		}
		if err != nil {
			problem("write", ns, &id, "pending write (task %q, idx %d) does not decode: %v", task, idx, err)
		}
		return nil
	}))
	rep.scanned(thread, bucketOrder, r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			problem("order", "", nil, "key %x: %v", k, err)
		} else if r.Get(cpPath, checkpointKey(ns, id)) == nil {
			problem("order", ns, &id, "history order entry for a checkpoint that is not stored")
		}
		return nil
	}))
}

// soundValue checks that a stored value decodes. One that does not decode
// into a bare any only for its type (ErrDecode: a map keyed by ints, which
// the app decodes into its own map type) is sound when msgpack can walk
// it whole.
func soundValue(v Raw) error {
	_, err := v.Value()
	if errors.Is(err, ErrDecode) && newDecoder(v).Skip() == nil {
		return nil
	}
	return err
}
