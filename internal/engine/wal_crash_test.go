package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The promise of a log of version 2 (wal.go): a crash, at any step of
// growing the file (reserve), writing a record and fsyncing it, never
// leaves a file that Open takes for one cut short from outside. These
// tests stop at every call of the log's fsync (the growth's in the commit
// loop, the syncer's, Erase's) and look at what a power cut there may
// leave, and fail each of those fsyncs in turn.

// crashLog watches a log through its fsync hook: what the file holds now,
// and what the last completed fsync made durable.
type crashLog struct {
	t    *testing.T
	path string
	// failAt, if not zero, is the fsync call that fails (1-based).
	failAt int
	// nosync makes two ops of every three of crashRun NoSync ones: their
	// records are not fsync'd alone, so one fsync covers two records.
	nosync bool
	mu     sync.Mutex
	calls  int
	synced []byte // the file as the last completed fsync began
	// acked is the last group acknowledged, applied the last group
	// bbolt holds (the test sets them between its ops).
	acked, applied uint64
	images         int // crash images checked
	// reordered counts the images that keep a record written since the
	// last fsync and lose one written before it; opened, those of them
	// that open (every one must).
	reordered, opened int
}

func (c *crashLog) sync(f *os.File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.checkCrash(fmt.Sprintf("fsync call %d", c.calls))
	if c.calls == c.failAt {
		return errors.New("disk on fire")
	}
	// What the file holds as the fsync begins is durable once it returns.
	data, err := os.ReadFile(c.path)
	if err != nil {
		return err
	}
	if err := Fdatasync(f); err != nil {
		return err
	}
	c.synced = data
	return nil
}

// checkCrash checks every image a power cut at this moment may leave
// (crashImages): none may be refused (one keeping a later record and
// losing an earlier one included), none may lack a group acknowledged.
func (c *crashLog) checkCrash(when string) {
	t := c.t
	data, err := os.ReadFile(c.path)
	if err != nil {
		t.Errorf("%s: %v", when, err)
		return
	}
	if len(c.synced) == 0 {
		// No fsync of the hook's yet: CreateLog's own made the header
		// and its zeros durable.
		c.synced = append(bytes.Clone(data[:logHeader]), make([]byte, recHeader)...)
	}
	id := binary.BigEndian.Uint64(data[16:])
	bind := LogBinding{ID: id, Gen: c.applied}
	for _, im := range crashImages(c.synced, data) {
		c.images++
		if im.reordered {
			c.reordered++
		}
		sc, err := scanLog(c.path, im.data, c.applied, bind)
		if err == nil && sc.Damage != nil {
			err = sc.Damage.Err(c.path)
		}
		if err != nil {
			t.Errorf("%s, a power cut leaving %s: Open would refuse it: %v", when, im.what, err)
			continue
		}
		if im.reordered {
			c.opened++
		}
		var last uint64
		if n := len(sc.Groups); n > 0 {
			last = sc.Groups[n-1].Gen
		}
		if max(last, c.applied) < c.acked {
			t.Errorf("%s, a power cut leaving %s: the log holds groups up to %d, bbolt %d, but %d was acknowledged",
				when, im.what, last, c.applied, c.acked)
		}
	}
}

type crashImage struct {
	what      string
	data      []byte
	reordered bool // a later record kept, an earlier one lost
}

// crashImages returns what a power cut may leave of a log file that holds
// data now and held synced when its last completed fsync began: a length
// from len(synced) up to len(data) (a file system keeps at least what an
// fsync made durable, and may keep any part of the growth after it: i_size
// moves page by page during a write, writeback is partial), taken around
// every record's end and around the pages there; and in it either every
// byte written since (all), none of them (synced, then zeros), the later
// half of them lost (torn), or, where more than one record was written
// since, the records before one of them lost and the rest kept (a disk
// writes back the pages of one fsync in any order).
func crashImages(synced, data []byte) []crashImage {
	lo, hi := len(synced), len(data)
	if hi < lo {
		// The file was cut shorter since the fsync (Log.Shrink, before
		// its own fsync): a power cut keeps the cut or not, either whole
		// (a truncate is one change of the file's metadata).
		return []crashImage{
			{what: fmt.Sprintf("%d bytes, the cut to %d lost", lo, hi), data: synced},
			{what: fmt.Sprintf("%d bytes, cut back from %d", hi, lo), data: data},
		}
	}
	lens := []int{lo, hi}
	ends := []int{logHeader}
	for off := logHeader; ; {
		end, ok := recordEnd(data, off, binary.BigEndian.Uint64(data[16:]))
		if !ok || end > len(data) {
			break
		}
		ends = append(ends, end)
		off = end
	}
	const page = 4096
	for _, e := range ends {
		for _, k := range []int{0, 1, 8, 16, 23, 24} {
			lens = append(lens, e+k)
		}
		lens = append(lens, e/page*page, (e+page-1)/page*page)
	}
	slices.Sort(lens)
	lens = slices.Compact(lens)
	// The bytes written since the fsync, [d0, d1).
	d0, d1 := -1, -1
	for i := range data {
		if i >= len(synced) || data[i] != synced[i] {
			if d0 < 0 {
				d0 = i
			}
			d1 = i + 1
		}
	}
	var out []crashImage
	for _, n := range lens {
		if n < lo || n > hi {
			continue
		}
		out = append(out, crashImage{what: fmt.Sprintf("%d bytes, all written", n), data: data[:n]})
		none := append(bytes.Clone(synced), make([]byte, n-len(synced))...)
		out = append(out, crashImage{what: fmt.Sprintf("%d bytes, nothing since the fsync", n), data: none})
		if d0 >= 0 && d0 < n {
			torn := bytes.Clone(data[:n])
			mid := (d0 + min(d1, n)) / 2
			copy(torn[mid:], none[mid:])
			out = append(out, crashImage{what: fmt.Sprintf("%d bytes, written since the fsync up to %d", n, mid), data: torn})
		}
		for _, e := range ends {
			if e <= d0 || e >= min(d1, n) {
				continue
			}
			later := bytes.Clone(data[:n])
			copy(later[d0:e], none[d0:e])
			out = append(out, crashImage{what: fmt.Sprintf("%d bytes, written since the fsync from %d on (the records before lost)", n, e), data: later, reordered: true})
		}
	}
	return out
}

// crashRun writes groups of one put each (now and then a record longer
// than the log's growth step, and twice everything applied so that the log
// rewinds over its records), with the log's fsync watched by c. It
// returns the groups acknowledged, and the values written.
func crashRun(t *testing.T, c *crashLog) (vals map[string][]byte, err error) {
	path := filepath.Join(t.TempDir(), "c.db")
	c.path = path + "-wal"
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{SyncLog: c.sync, HoldApplier: true, LogGrow: 4096}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	vals = map[string][]byte{}
	var failed error
	for i := range 40 {
		if i == 14 || i == 28 {
			// Applied whole: the log rewinds, its old records stay after
			// the new ones.
			if err := do(e, &Op{Solo: func() error { return nil }}); err != nil {
				failed = err
				break
			}
			c.mu.Lock()
			c.applied = uint64(i) // groups 1..i, one per write so far
			c.mu.Unlock()
		}
		k := fmt.Sprintf("k%02d", i)
		v := bytes.Repeat([]byte{byte('a' + i%26)}, 300+i*37)
		if i%9 == 4 {
			v = bytes.Repeat(v[:1], 9000) // longer than a growth step
		}
		noSync := c.nosync && i%3 != 0
		if err := do(e, &Op{NoSync: noSync, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), v) }}); err != nil {
			failed = err
			break
		}
		vals[k] = v
		if !noSync {
			// A Sync write returns once the log is durable up to its
			// group (and every group before it).
			c.mu.Lock()
			c.acked = uint64(i + 1)
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	c.checkCrash("the end")
	c.mu.Unlock()
	if err := e.Close(); err != nil && failed == nil {
		t.Errorf("Close: %v", err)
	}
	// The real file, as Close left it (the log kept if bbolt lacks
	// groups): Open takes it, with every acknowledged write.
	opts.Hooks = Hooks{}
	r, err := Open(path, opts)
	if err != nil {
		t.Fatalf("reopen after the run (fsync %d failing: %v): %v", c.failAt, failed, err)
	}
	defer r.Close()
	for k, v := range vals {
		if got := readKey(t, r, k); got != string(v) {
			t.Errorf("reopen: %s holds %d bytes, want %d", k, len(got), len(v))
		}
	}
	return vals, failed
}

// TestLogCrashAtEveryFsyncIsNeverCutShort: no power cut at any fsync of
// the log (a growth's, a group's), nor at the end, leaves a log that Open
// refuses or that lacks an acknowledged group.
func TestLogCrashAtEveryFsyncIsNeverCutShort(t *testing.T) {
	t.Parallel()
	c := &crashLog{t: t}
	if _, err := crashRun(t, c); err != nil {
		t.Fatal(err)
	}
	// The run grew the file (an fsync more than one a group): the test
	// proves something. (Without the growth's fsync, images of this run
	// were refused on 2026-12-03: 2,468 with zeros alone growing the file,
	// 74 with its length set by Truncate.)
	if c.calls <= 40 || c.images < 150 {
		t.Fatalf("%d fsyncs, %d crash images: too few", c.calls, c.images)
	}
}

// TestLogCrashWithNoSyncGroupsLosesNothing: the same run with two writes
// of every three NoSync. A NoSync group's record is written and not
// fsync'd alone: the next group's record follows it before any fsync, and
// a power cut during that fsync may keep the later record whole and not
// the earlier. Neither was acknowledged as durable, and the later one
// says it was written before the earlier was durable (its lag, wal.go):
// the scan drops both, as a torn tail. Every image must open and hold
// every acknowledged group. (Up to the twelfth session the scan
// refused such logs as damage: `ckpt recover` was needed after a power
// cut. On 7d218b1 the run also showed refusals by the mark rule, a NoSync
// group in bbolt with its record lost and an earlier pass read again
// after a rewind.)
func TestLogCrashWithNoSyncGroupsLosesNothing(t *testing.T) {
	t.Parallel()
	c := &crashLog{t: t, nosync: true}
	if _, err := crashRun(t, c); err != nil {
		t.Fatal(err)
	}
	if c.calls <= 10 || c.images < 100 || c.opened < 10 {
		t.Fatalf("%d fsyncs, %d crash images (%d with a later record kept and an earlier lost, opened): too few", c.calls, c.images, c.opened)
	}
}

// TestLogFailedFsyncAtEveryStep: each fsync of the same run fails in turn
// (a growth's before its record is written, a group's, then Erase's): the
// store fails, and what is left, a power cut at any later fsync and the
// file Close leaves, opens with every acknowledged group.
func TestLogFailedFsyncAtEveryStep(t *testing.T) {
	t.Parallel()
	total := 0
	{
		c := &crashLog{t: t}
		if _, err := crashRun(t, c); err != nil {
			t.Fatal(err)
		}
		total = c.calls
	}
	for at := 1; at <= total; at++ {
		c := &crashLog{t: t, failAt: at}
		if _, err := crashRun(t, c); !errors.Is(err, ErrFailed) {
			t.Fatalf("fsync %d failing: the run ended with %v, want ErrFailed", at, err)
		}
	}
}
