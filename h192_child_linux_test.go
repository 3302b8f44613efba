//go:build linux

package ckpt_test

// h192's child process (h192_combo_linux_test.go says what the hunt does):
// one phase of a case on the store at its path, with the phase's faults
// armed in sequence, printing what it was told.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	h192PhaseEnv = "CKPT_H192_PHASE" // work | open | compact | import | rekey | recover | backup
	h192FaultEnv = "CKPT_H192_FAULT" // act:point:k;... (h192Seq)
	h192ModeEnv  = "CKPT_H192_MODE"  // wal | nowal | sealed
	h192WorkEnv  = "CKPT_H192_WORK"  // seed:base:steps, the phase's writers
	h192FsizeEnv = "CKPT_H192_FSIZE" // RLIMIT_FSIZE: this many bytes past the store's file, or p<permille> of it
	h192DumpEnv  = "CKPT_H192_DUMP"  // import: the dump
	h192Threads  = 3
	h192ImpSteps = 40 // checkpoints of the imported thread "imp"
)

var errH192 = errors.New("h192: injected fault")

// h192Opts are a case's options: mode is wal, nowal or sealed (written
// under key 1 in the work phase, rekeyed to key 2 after it), with
// "+tight" a queue of two Async writes and 4 KiB (writers wait for room).
func h192Opts(mode, phase string) ckpt.Options {
	mode, tight := strings.CutSuffix(mode, "+tight")
	var o ckpt.Options
	switch mode {
	case "nowal":
		o.NoWAL = true
	case "sealed":
		o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{diskKeys[1], diskKeys[0]}}
		if phase == "work" {
			o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{diskKeys[0]}}
		}
	}
	if tight {
		o.MaxPending, o.MaxPendingBytes = 2, 4<<10
	}
	return o
}

// h192Fault: act (kill, fail: errH192, full: ENOSPC) at the k-th call of
// point ("any": fsync, commit or syncdir; "compact:*", "recover:*": any
// stage of those), counted from the fault before it; or killin:now:<µs>,
// a kill that long after the fault before it (or the child's start).
type h192Fault struct {
	act, point string
	k          int
}

func parseH192Faults(s string) []h192Fault {
	var fs []h192Fault
	for _, f := range strings.Split(s, ";") {
		p := strings.Split(f, ":")
		if len(p) < 3 {
			continue
		}
		k, _ := strconv.Atoi(p[len(p)-1])
		fs = append(fs, h192Fault{p[0], strings.Join(p[1:len(p)-1], ":"), k})
	}
	return fs
}

// h192Seq arms the faults one after the other: the second is counted
// only once the first fired, so it lands in what the store does about
// the first.
type h192Seq struct {
	mu   sync.Mutex
	fs   []h192Fault
	i, n int
	emit func(string)
}

// armSoon starts the kill of a "killin:now:<µs>" fault that comes next
// (q.mu held): it lands that long after the fault before it fired, in
// whatever the store does then, hooked or not.
func (q *h192Seq) armSoon() {
	if q.i >= len(q.fs) || q.fs[q.i].act != "killin" {
		return
	}
	d := time.Duration(q.fs[q.i].k) * time.Microsecond
	q.i++
	go func() {
		time.Sleep(d)
		q.emit("F killin " + d.String())
		testchild.KillSelf()
	}()
}

func h192Matches(want, point string) bool {
	switch {
	case want == "any":
		return point == "fsync" || point == "commit" || point == "syncdir"
	case strings.HasSuffix(want, "*"):
		return strings.HasPrefix(point, strings.TrimSuffix(want, "*"))
	}
	return want == point
}

func (q *h192Seq) at(point string) error {
	q.mu.Lock()
	if q.i >= len(q.fs) || !h192Matches(q.fs[q.i].point, point) {
		q.mu.Unlock()
		return nil
	}
	f := q.fs[q.i]
	if q.n++; q.n < f.k {
		q.mu.Unlock()
		return nil
	}
	q.i, q.n = q.i+1, 0
	q.armSoon()
	q.mu.Unlock()
	q.emit(fmt.Sprintf("F %s %s", f.act, point))
	switch f.act {
	case "kill":
		testchild.KillSelf()
	case "full":
		// As the system says it: a commit's page write that found no
		// room (bbolt rolled it back; so did the hook), or an fsync's.
		op := "write"
		if point == "fsync" {
			op = "sync"
		}
		return &os.PathError{Op: op, Path: "h192", Err: syscall.ENOSPC}
	}
	return errH192
}

func h192Pad(thread string, step int) string {
	r := rand.New(rand.NewPCG(uint64(len(thread))*7919+uint64(step), uint64(thread[len(thread)-1])))
	b := make([]byte, 100+r.IntN(1500))
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

func h192State(thread string, step int) map[string]any {
	return map[string]any{"thread": thread, "step": step, "pad": h192Pad(thread, step)}
}

func h192ErrStr(err error) string {
	if err == nil {
		return "ok"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func h192Child(path string) int {
	phase, mode := os.Getenv(h192PhaseEnv), os.Getenv(h192ModeEnv)
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	emit := func(l string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(l + "\n")
		out.Flush()
	}
	q := &h192Seq{fs: parseH192Faults(os.Getenv(h192FaultEnv)), emit: emit}
	q.mu.Lock()
	q.armSoon()
	q.mu.Unlock()
	opts := ckpt.WithH192Faults(h192Opts(mode, phase), 8, q.at)
	h192Failed.emit = emit
	opts.OnAsyncError = h192Failed.add
	limit := func() {
		v := os.Getenv(h192FsizeEnv)
		if v == "" {
			return
		}
		// Past the file's size (the log's writes past it fail too), or,
		// as p<permille>, a share of it (Compact's new file).
		size := diskFileSize(path)
		var n uint64
		if pm, ok := strings.CutPrefix(v, "p"); ok {
			k, _ := strconv.ParseInt(pm, 10, 64)
			n = uint64(max(size*k/1000, 4096))
		} else {
			delta, _ := strconv.ParseInt(v, 10, 64)
			n = uint64(size + delta)
		}
		signal.Ignore(syscall.SIGXFSZ)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			emit("X setrlimit " + err.Error())
		}
	}
	ctx := context.Background()
	if phase == "recover" || phase == "open" {
		limit() // the replay (or the recovery) meets the full disk
	}
	if phase == "recover" {
		_, err := ckpt.RecoverLog(path, opts)
		emit("R recover " + h192ErrStr(err))
		return 0
	}
	s, err := ckpt.Open(path, opts)
	emit("R open " + h192ErrStr(err))
	if err != nil {
		return 0
	}
	if phase != "open" {
		limit()
	}
	switch phase {
	case "work", "open":
		h192Work(ctx, s, os.Getenv(h192WorkEnv), phase == "work", emit)
	case "compact":
		_, err := s.Compact(ctx, nil)
		emit("R compact " + h192ErrStr(err))
		h192Work(ctx, s, os.Getenv(h192WorkEnv), false, emit)
	case "import":
		f, err := os.Open(os.Getenv(h192DumpEnv))
		if err != nil {
			emit("X " + err.Error())
			return 3
		}
		_, err = s.Import(ctx, f, ckpt.ImportOptions{})
		_ = f.Close()
		emit("R import " + h192ErrStr(err))
	case "rekey":
		// Writers beside it: their new records sealed under the new key.
		var wg sync.WaitGroup
		wg.Go(func() { h192Work(ctx, s, os.Getenv(h192WorkEnv), false, emit) })
		_, err := s.Rekey(ctx)
		emit("R rekey " + h192ErrStr(err))
		wg.Wait()
	case "backup":
		err := s.BackupFile(ctx, filepath.Join(filepath.Dir(path), "bk.db"))
		emit("R backup " + h192ErrStr(err))
		h192Work(ctx, s, os.Getenv(h192WorkEnv), false, emit)
	}
	err = s.Close()
	h192Failed.add(err) // the failed Async writes no Flush took
	emit("R close " + h192ErrStr(err))
	h192Failed.resolve()
	return 0
}

// h192Failed collects the Async writes the store said failed (by their
// checkpoint ids, in OnAsyncError's and Close's errors): each is an "E"
// line, a write that must never show up.
var h192Failed = &h192AsyncErrs{ids: map[string]string{}}

type h192AsyncErrs struct {
	mu      sync.Mutex
	ids     map[string]string // checkpoint id -> "thread step"
	unnamed []string          // ids an error named before their Save returned
	emit    func(string)
}

var h192ULID = regexp.MustCompile(`[0-9A-HJKMNP-TV-Z]{26}`)

func (a *h192AsyncErrs) add(err error) {
	if err == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range h192ULID.FindAllString(err.Error(), -1) {
		if w, ok := a.ids[id]; ok {
			a.emit("E " + w)
		} else {
			a.unnamed = append(a.unnamed, id)
		}
	}
}

func (a *h192AsyncErrs) saved(id, thread string, step int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids[id] = fmt.Sprintf("%s %d", thread, step)
}

func (a *h192AsyncErrs) resolve() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range a.unnamed {
		if w, ok := a.ids[id]; ok {
			a.emit("E " + w)
		}
	}
}

// h192Work runs the writers of work (seed:base:steps): h192Threads
// threads t0.., each Sync, Async or NoSync as the seed says, steps
// base.. of each, printing "A thread step" once a step is durable (Sync
// returned nil; Async: a Flush after it returned nil), "N thread step"
// when a NoSync one returned nil, and "E thread step" when its call
// returned an error; with maint, Compact, ApplyLog, Flush and
// BackupFile beside them until they are done.
func h192Work(ctx context.Context, s *ckpt.Store, work string, maint bool, emit func(string)) {
	p := strings.Split(work, ":")
	if len(p) != 3 {
		emit("X bad work " + work)
		return
	}
	seed, _ := strconv.ParseUint(p[0], 10, 64)
	base, _ := strconv.Atoi(p[1])
	steps, _ := strconv.Atoi(p[2])
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := range h192Threads {
		th := fmt.Sprintf("t%d", i)
		d := []ckpt.Durability{ckpt.Sync, ckpt.Async, ckpt.NoSync}[(seed>>(2*i))%3]
		wg.Go(func() {
			wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: d})
			var pending []int
			flush := func() {
				if len(pending) == 0 {
					return
				}
				if s.Flush(ctx) == nil {
					for _, st := range pending {
						emit(fmt.Sprintf("A %s %d", th, st))
					}
				}
				pending = nil
			}
			for st := base; st < base+steps; st++ {
				id, err := s.Save(wctx, th, h192State(th, st), ckpt.Metadata{"step": st})
				if err == nil && d == ckpt.Async {
					h192Failed.saved(id, th, st)
				}
				switch {
				case err != nil:
					emit(fmt.Sprintf("E %s %d", th, st))
				case d == ckpt.Sync:
					emit(fmt.Sprintf("A %s %d", th, st))
				case d == ckpt.NoSync:
					// Survives a kill, not a power cut (none here), nor
					// the failed fsync of its group (its record erased).
					emit(fmt.Sprintf("N %s %d", th, st))
				default:
					pending = append(pending, st)
					if st%4 == 3 {
						flush()
					}
				}
			}
			flush()
		})
	}
	var mg sync.WaitGroup
	if maint {
		mg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 192))
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				var err error
				op := []string{"compact", "apply", "flush", "backup", "delete"}[rng.IntN(5)]
				switch op {
				case "delete":
					// A thread of its own, written and deleted: "D
					// thread result" (one transaction: all or nothing).
					th := fmt.Sprintf("d%d", base+n)
					for st := range 3 {
						if _, err := s.Save(ctx, th, h192State(th, st), nil); err != nil {
							emit(fmt.Sprintf("E %s %d", th, st))
						} else {
							emit(fmt.Sprintf("A %s %d", th, st))
						}
					}
					emit("D " + th + " " + h192ErrStr(s.DeleteThread(ctx, th)))
				case "compact":
					_, err = s.Compact(ctx, nil)
				case "apply":
					err = s.ApplyLog(ctx)
				case "flush":
					err = s.Flush(ctx)
				case "backup":
					err = s.BackupFile(ctx, filepath.Join(filepath.Dir(s.Path()), fmt.Sprintf("bk%d.db", n)))
				}
				emit("M " + op + " " + h192ErrStr(err))
				// Pacing only (the writers go on meanwhile), not a check.
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(done)
	mg.Wait()
	if maint {
		// One compaction at least, whatever the pacing drew: the cases
		// that fault a compaction's stages count on one.
		_, err := s.Compact(ctx, nil)
		emit("M compact " + h192ErrStr(err))
	}
}
