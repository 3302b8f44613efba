package engine

// A sweep of the proof (wal.go, commit.go's vouch): writers of the three
// durabilities (Sync; NoSync then Flush; Async then Flush) share groups
// cut small by MaxRecordBody, and one fault strikes at the k-th call of a
// hook, for every k up to a bound: the log's fsync fails (once, after a
// wait, or from then on, Erase's too), or is slow; a bbolt commit fails
// once, or finds no room from then on (Close on a full disk keeps the
// log); or the log's writes find no room (/dev/full) for a while, the
// proof's too. Three stores: the applier held (Close
// applies the log), held with a Solo (apply, rewind) among and after each
// round, and the applier running with pauses (it applies, the log
// rewinds); the last ops are sent and left for Close to drain.
// After every acknowledgement of a durable write, the log as a kill -9
// leaves it (its bytes now) must say of every record holding one that it
// was durable: a proof of its gen or later, or a later record whose
// durable is its gen or later, follows it in the chain; or bbolt holds it
// (a proof could not be written). At the end of
// every round of writes, and after Close, a crash copy with the last
// record holding changes damaged must be refused (ErrCorrupt) or read
// back every acknowledged durable write.
//
// CKPT_PROOF_SWEEP_K sets the bound on k for every fault.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const psMaxErrors = 3

var errPSInjected = errors.New("proof sweep: injected fault")

// psRun is one store under one fault.
type psRun struct {
	t       *testing.T
	dir     string
	path    string
	opts    Options
	e       *Engine
	mu      sync.Mutex
	durable map[string]string // acknowledged durable writes: key -> value
	asyncOK atomic.Bool       // no Async op failed (OnAsyncError)
	copies  atomic.Int64
	checks  atomic.Int64
	bad     atomic.Int64 // violations reported (capped)
	acked   atomic.Int64
	calls   atomic.Int64 // calls of the hook the fault strikes
	rewound atomic.Int64 // log checks that found a chain not starting at group 1
	full    atomic.Int64 // ops and Flushes that failed with ErrDiskFull
	fails   atomic.Int64 // ... with another error
	failed  bool         // the store failed (fail-stop) before Close
}

func (r *psRun) note(err error) error {
	switch {
	case err == nil:
	case errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrFailed):
		r.full.Add(1)
	default:
		r.fails.Add(1)
	}
	return err
}

func (r *psRun) markDurable(kv map[string]string) {
	r.mu.Lock()
	for k, v := range kv {
		r.durable[k] = v
	}
	r.mu.Unlock()
	r.acked.Add(int64(len(kv)))
}

func (r *psRun) snapshot() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.durable))
	for k, v := range r.durable {
		out[k] = v
	}
	return out
}

func (r *psRun) errorf(format string, args ...any) {
	if r.bad.Add(1) <= psMaxErrors {
		r.t.Errorf(format, args...)
	}
}

// checkVouched: every record of the chain in data that holds a write of
// durable has a record after it that says it was durable, or bbolt holds
// its group (applied, read after durable: a proof that could not be
// written has bbolt take the groups before they are acknowledged).
func (r *psRun) checkVouched(data []byte, durable map[string]string, applied uint64, when string) {
	r.checks.Add(1)
	recs := chainRecords(data)
	if len(recs) > 0 && recs[0].gen > 1 {
		r.rewound.Add(1)
	}
	for i, rec := range recs {
		if rec.proof || rec.gen <= applied {
			continue
		}
		muts, err := decodeMuts(rec.body)
		if err != nil {
			continue
		}
		holds := ""
		for _, m := range muts {
			if _, ok := durable[string(m.Key)]; ok {
				holds = string(m.Key)
				break
			}
		}
		if holds == "" {
			continue
		}
		vouched := false
		for _, later := range recs[i+1:] {
			if later.proof && later.gen >= rec.gen || !later.proof && later.durable >= rec.gen {
				vouched = true
				break
			}
		}
		if !vouched {
			r.errorf("%s: group %d (record %d of %d, holds %s, acknowledged durable) has nothing after it that says it was durable; chain: %s",
				when, rec.gen, i+1, len(recs), holds, psChain(recs))
		}
	}
}

func psChain(recs []logRecord) string {
	var b strings.Builder
	for _, rec := range recs {
		if rec.proof {
			fmt.Fprintf(&b, "[proof %d]", rec.gen)
		} else {
			fmt.Fprintf(&b, "[g%d d%d]", rec.gen, rec.durable)
		}
	}
	return b.String()
}

// checkLogNow checks the log's bytes as they are now.
func (r *psRun) checkLogNow(when string) {
	durable := r.snapshot()
	applied := r.e.wal.ap.Applied()
	data, err := os.ReadFile(r.path + "-wal")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return // removed by a clean Close: bbolt holds everything
		}
		r.t.Fatal(err)
	}
	r.checkVouched(data, durable, applied, when)
}

// checkDamaged copies the store as it is now with the last record holding
// changes damaged (flip: a body byte flipped; else its body zeroed): Open
// refuses it or reads every acknowledged durable write.
func (r *psRun) checkDamaged(when string, flip bool) {
	durable := r.snapshot()
	applied := r.e.wal.ap.Applied() // the copy's bbolt file holds these
	if _, err := os.Stat(r.path + "-wal"); err != nil {
		return
	}
	n := r.copies.Add(1)
	damaged := false
	cp := crashCopyFiles(r.t, r.path, filepath.Join(r.dir, fmt.Sprint("img", n)), func(suffix string, data []byte) {
		if suffix != "-wal" {
			return
		}
		r.checkVouched(data, durable, applied, when+" (crash copy)")
		recs := chainRecords(data)
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].proof {
				continue
			}
			rec := recs[i]
			if flip {
				data[rec.off+recHeader] ^= 0x01
			} else {
				zeroBody(rec)(data)
			}
			damaged = true
			return
		}
	})
	if !damaged {
		return
	}
	o := r.opts
	o.LogPath, o.Hooks, o.OnAsyncError = cp+"-wal", Hooks{}, nil
	d, err := Open(cp, o)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			r.errorf("%s: Open of the damaged copy = %v, want ErrCorrupt or success", when, err)
		}
		return
	}
	defer d.Close()
	missing := 0
	first := ""
	for k, v := range durable {
		if got := readKey(r.t, d, k); got != v {
			if missing == 0 {
				first = fmt.Sprintf("%s reads %q", k, got)
			}
			missing++
		}
	}
	if missing > 0 {
		r.errorf("%s: last data record damaged: Open succeeded and %d acknowledged durable writes are gone (%s)", when, missing, first)
	}
}

type psConfig struct {
	name        string
	holdApplier bool
	logGrow     int64
	solo        bool // a Solo (apply everything, rewind) every soloEvery rounds
	midSolo     bool // a Solo among the writers every other round
	soloEvery   int
	idle        time.Duration // a pause after every other round: the applier applies, the log rewinds
}

type psFault struct {
	name  string
	bound int    // k runs from 1 to this (CKPT_PROOF_SWEEP_K: to that)
	skip  string // a config it has no effect in
	hooks func(k int, r *psRun) Hooks
}

func psFaults(t *testing.T) []psFault {
	nth := func(k int, r *psRun) func() (int, bool) {
		return func() (int, bool) { c := int(r.calls.Add(1)); return c, c == k }
	}
	faults := []psFault{
		{"SyncLogFails", 24, "", func(k int, r *psRun) Hooks {
			hit := nth(k, r)
			return Hooks{SyncLog: func(f *os.File) error {
				if _, ok := hit(); ok {
					return errPSInjected
				}
				return Fdatasync(f)
			}}
		}},
		{"SyncLogSlow", 24, "", func(k int, r *psRun) Hooks {
			hit := nth(k, r)
			return Hooks{SyncLog: func(f *os.File) error {
				if _, ok := hit(); ok {
					time.Sleep(20 * time.Millisecond)
				}
				return Fdatasync(f)
			}}
		}},
		{"SyncLogSlowThenFails", 24, "", func(k int, r *psRun) Hooks {
			hit := nth(k, r)
			return Hooks{SyncLog: func(f *os.File) error {
				if _, ok := hit(); ok {
					time.Sleep(20 * time.Millisecond)
					return errPSInjected
				}
				return Fdatasync(f)
			}}
		}},
		{"SyncLogFailsFromK", 24, "", func(k int, r *psRun) Hooks {
			return Hooks{SyncLog: func(f *os.File) error {
				if int(r.calls.Add(1)) >= k {
					return errPSInjected
				}
				return Fdatasync(f)
			}}
		}},
		{"CommitBoltFails", 6, "", func(k int, r *psRun) Hooks {
			hit := nth(k, r)
			return Hooks{CommitBolt: func(tx *bolt.Tx) error {
				if _, ok := hit(); ok {
					_ = tx.Rollback()
					return errPSInjected
				}
				return tx.Commit()
			}}
		}},
		{"CommitBoltFullFromK", 6, "", func(k int, r *psRun) Hooks {
			hit := nth(k, r)
			var full atomic.Bool
			return Hooks{CommitBolt: func(tx *bolt.Tx) error {
				if _, ok := hit(); ok {
					full.Store(true)
				}
				if full.Load() {
					_ = tx.Rollback()
					return &os.PathError{Op: "write", Path: tx.DB().Path(), Err: syscall.ENOSPC}
				}
				return tx.Commit()
			}}
		}},
	}
	if f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		_ = f.Close()
		// /dev/full refuses overwrites of the log's zeros too (as a
		// copy-on-write file system does): both faults below also strike
		// proofs, whose groups bbolt then takes before they are
		// acknowledged (backByBolt).
		// The log's writes find no room from the first growth's fsync at
		// or after the k-th fsync (the next write is a record's zeros or
		// the record) until the next fsync. A Flush whose fsync ended
		// with no flight left is sealed with the open group; that group's
		// record finds no room (ErrDiskFull), and so does the proof
		// after the Flush's groups: the Flush returns nil.
		faults = append(faults, psFault{"LogFullAtGrowth", 24, "held", func(k int, r *psRun) Hooks {
			var mu sync.Mutex
			var real *os.File
			var size int64
			done := false
			return Hooks{SyncLog: func(f *os.File) error {
				mu.Lock()
				defer mu.Unlock()
				if real != nil {
					f = real
					_ = r.e.wal.log.swapFile(real).Close()
					real = nil
				}
				err := Fdatasync(f)
				c := int(r.calls.Add(1))
				fi, serr := f.Stat()
				if serr != nil {
					return err
				}
				grew := fi.Size() > size && size > 0
				size = fi.Size()
				if r.e != nil && !done && c >= k && grew {
					full, oerr := os.OpenFile("/dev/full", os.O_WRONLY, 0)
					if oerr != nil {
						r.t.Error(oerr)
						return err
					}
					done = true
					real = r.e.wal.log.swapFile(full)
				}
				return err
			}}
		}})
		// The log's writes find no room from the k-th fsync's end for
		// three fsyncs (the handle swapped for /dev/full's; its fsyncs go
		// to the log's own file).
		faults = append(faults, psFault{"LogFullForAWhile", 24, "", func(k int, r *psRun) Hooks {
			var mu sync.Mutex
			var real *os.File
			return Hooks{SyncLog: func(f *os.File) error {
				mu.Lock()
				defer mu.Unlock()
				target := f
				if real != nil {
					target = real
				}
				err := Fdatasync(target)
				c := int(r.calls.Add(1))
				if r.e == nil {
					return err
				}
				switch c {
				case k:
					full, oerr := os.OpenFile("/dev/full", os.O_WRONLY, 0)
					if oerr != nil {
						r.t.Error(oerr)
						return err
					}
					real = r.e.wal.log.swapFile(full)
				case k + 3:
					if real != nil {
						_ = r.e.wal.log.swapFile(real).Close()
						real = nil
					}
				}
				return err
			}}
		}})
	}
	return faults
}

func psBound(f psFault) int {
	if v, err := strconv.Atoi(os.Getenv("CKPT_PROOF_SWEEP_K")); err == nil && v > 0 {
		return v
	}
	return f.bound
}

// TestProofSweep: see the top of this file.
func TestProofSweep(t *testing.T) {
	t.Parallel()
	configs := []psConfig{
		{name: "held", holdApplier: true, logGrow: 64 << 10},
		{name: "held+solos", holdApplier: true, logGrow: 1024, solo: true, soloEvery: 1, midSolo: true},
		{name: "applier+rewinds", logGrow: 1024, idle: 25 * time.Millisecond},
	}
	var acked, copies, checks, runs, failedRuns, full, fails, rewound atomic.Int64
	for _, fault := range psFaults(t) {
		for _, cfg := range configs {
			if cfg.name == fault.skip {
				continue
			}
			bound := psBound(fault)
			t.Run(fault.name+"/"+cfg.name, func(t *testing.T) {
				t.Parallel()
				maxCalls := int64(0)
				for k := 1; k <= bound; k++ {
					start := time.Now()
					r := psOne(t, cfg, fault, k)
					if os.Getenv("CKPT_PROOF_SWEEP_V") != "" {
						t.Logf("k=%d: %v, %d acked, %d calls, full %d, fails %d, failed %v", k, time.Since(start), r.acked.Load(), r.calls.Load(), r.full.Load(), r.fails.Load(), r.failed)
					}
					maxCalls = max(maxCalls, r.calls.Load())
					full.Add(r.full.Load())
					fails.Add(r.fails.Load())
					rewound.Add(r.rewound.Load())
					if r.failed {
						failedRuns.Add(1)
					}
					acked.Add(r.acked.Load())
					copies.Add(r.copies.Load())
					checks.Add(r.checks.Load())
					runs.Add(1)
					if t.Failed() {
						t.Logf("first failure at k=%d", k)
						return
					}
				}
				t.Logf("k up to %d; the hook was called up to %d times in a run", bound, maxCalls)
			})
		}
	}
	t.Cleanup(func() {
		t.Logf("%d runs (%d with the store failed), %d acknowledged durable writes (%d calls failed with ErrDiskFull, %d otherwise), %d log checks (%d of a rewound log), %d damaged crash copies opened",
			runs.Load(), failedRuns.Load(), acked.Load(), full.Load(), fails.Load(), checks.Load(), rewound.Load(), copies.Load())
	})
}

func psOne(t *testing.T, cfg psConfig, fault psFault, k int) *psRun {
	t.Helper()
	dir := t.TempDir()
	r := &psRun{t: t, dir: dir, path: filepath.Join(dir, "v.db"), durable: map[string]string{}}
	r.asyncOK.Store(true)
	hooks := fault.hooks(k, r)
	hooks.HoldApplier = cfg.holdApplier
	hooks.LogGrow = cfg.logGrow
	hooks.MaxRecordBody = 300
	r.opts = Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: r.path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{}, Hooks: hooks,
		OnAsyncError: func(error) { r.asyncOK.Store(false) }}
	e, err := Open(r.path, r.opts)
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	val := func(k string) string { return k + strings.Repeat(".", 90) }
	put := func(k string, noSync, async bool) *Op {
		v := val(k)
		op := &Op{Ctx: context.Background(), NoSync: noSync || async,
			Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}
		if !async {
			op.Done = make(chan error, 1)
		}
		return op
	}
	const rounds = 4
	for round := range rounds {
		var wg sync.WaitGroup
		// Sync: three ops at once.
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("s%d-%d", round, i)
				op := put(key, false, false)
				if e.Send(context.Background(), op) != nil {
					return
				}
				if r.note(<-op.Done) == nil {
					r.markDurable(map[string]string{key: val(key)})
					r.checkLogNow(fmt.Sprintf("k=%d round %d: after Sync %s", k, round, key))
				}
			}()
		}
		// NoSync ops, then a Flush.
		wg.Add(1)
		go func() {
			defer wg.Done()
			kv := map[string]string{}
			for i := range 3 {
				key := fmt.Sprintf("n%d-%d", round, i)
				if r.note(do(e, put(key, true, false))) == nil {
					kv[key] = val(key)
				}
			}
			if r.note(e.Flush(context.Background())) == nil {
				r.markDurable(kv)
				r.checkLogNow(fmt.Sprintf("k=%d round %d: after NoSync's Flush", k, round))
			}
		}()
		// Async ops, then a Flush.
		wg.Add(1)
		go func() {
			defer wg.Done()
			kv := map[string]string{}
			for i := range 3 {
				key := fmt.Sprintf("a%d-%d", round, i)
				if e.Send(context.Background(), put(key, false, true)) == nil {
					kv[key] = val(key)
				}
			}
			if r.note(e.Flush(context.Background())) == nil && r.asyncOK.Load() {
				r.markDurable(kv)
				r.checkLogNow(fmt.Sprintf("k=%d round %d: after Async's Flush", k, round))
			}
		}()
		if cfg.midSolo && round%2 == 0 {
			// A Solo among the writers: applies everything, rewinds.
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = e.Solo(context.Background(), func() error { return nil })
			}()
		}
		wg.Wait()
		if cfg.solo && round%cfg.soloEvery == cfg.soloEvery-1 {
			_ = e.Solo(context.Background(), func() error { return nil })
		}
		if cfg.idle > 0 && round%2 == 1 {
			time.Sleep(cfg.idle)
		}
		r.checkLogNow(fmt.Sprintf("k=%d round %d: end", k, round))
		r.checkDamaged(fmt.Sprintf("k=%d round %d: end", k, round), round%2 == 0)
	}
	r.failed = e.fs.Failed() != nil
	// The last ops are sent, not waited for: Close drains them.
	var last []*Op
	lastKeys := map[*Op]string{}
	for i := range 4 {
		key := fmt.Sprintf("c-%d", i)
		op := put(key, i%2 == 1, false)
		if e.Send(context.Background(), op) == nil {
			last = append(last, op)
			lastKeys[op] = key
		}
	}
	flush := &Op{Ctx: context.Background(), Done: make(chan error, 1)}
	flushSent := e.Send(context.Background(), flush) == nil
	cerr := e.Close()
	flushed := flushSent && r.note(<-flush.Done) == nil
	kv := map[string]string{}
	for _, op := range last {
		if r.note(<-op.Done) == nil && (!op.NoSync || flushed) {
			kv[lastKeys[op]] = val(lastKeys[op])
		}
	}
	r.markDurable(kv)
	r.checkLogNow(fmt.Sprintf("k=%d: after Close (%v)", k, cerr))
	r.checkDamaged(fmt.Sprintf("k=%d: after Close (%v)", k, cerr), true)
	return r
}
