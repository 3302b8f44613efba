package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The scan drops a bad record followed only by records written before it
// was durable, as a power cut's (wal.go). That is safe only if no record
// a caller waited for is among them: every record a Sync write or a Flush
// waits for is written once every record before it is durable (its lag
// 1), and a Flush over records written before that (NoSync groups) writes
// a record after them (trySeal, sealGroup).

// logRecords returns the records of the log file's chain, in order.
func logRecords(t *testing.T, path string) []logRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return chainRecords(data)
}

// oneProofEach is recs with each run of proofs as its first: a proof
// padded to the next block and its second copy there (wal.go, version 5)
// count as the one proof after a record.
func oneProofEach(recs []logRecord) []logRecord {
	var out []logRecord
	for i, r := range recs {
		if r.proof && i > 0 && recs[i-1].proof {
			continue
		}
		out = append(out, r)
	}
	return out
}

// dataRecords is logRecords without the proofs: one record per group.
func dataRecords(t *testing.T, path string) []logRecord {
	t.Helper()
	var out []logRecord
	for _, r := range logRecords(t, path) {
		if !r.proof {
			out = append(out, r)
		}
	}
	return out
}

func vouchOpen(t *testing.T, path string, hooks Hooks) (*Engine, Options) {
	t.Helper()
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{}, Hooks: hooks}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, opts
}

// TestWaitedForRecordsSayEverythingBeforeWasDurable: NoSync groups a and b,
// then a Sync group c: c's record is written once a and b are durable (lag
// 1), and a proof follows it before c is acknowledged. Then NoSync d and
// e and a Flush: a proof follows e, written once d and e were durable.
// On the build before f20f450, c was written at once (lag 3) and the
// Flush wrote nothing: damage to a or b later, after c was acknowledged,
// would read as a power cut's.
func TestWaitedForRecordsSayEverythingBeforeWasDurable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v.db")
	e, _ := vouchOpen(t, path, Hooks{HoldApplier: true})
	defer e.Close()
	put := func(k string, noSync bool) {
		t.Helper()
		if err := do(e, &Op{NoSync: noSync, Apply: func(w Writer) error {
			return w.Put(testBucket, []byte(k), []byte("value of "+k))
		}}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", true)
	put("b", true)
	put("c", false)
	put("d", true)
	put("e", true)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := oneProofEach(logRecords(t, path+"-wal"))
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7 (a-c, c's proof, d, e, the Flush's proof)", len(recs))
	}
	if r := recs[2]; r.gen != 3 || r.durable != 2 || r.proof {
		t.Errorf("c's record: group %d written when the log was durable up to %d; want group 3, durable up to 2", r.gen, r.durable)
	}
	for _, i := range []int{3, 6} {
		if r, before := recs[i], recs[i-1]; !r.proof || r.gen != before.gen || r.durable != before.gen {
			t.Errorf("record %d: group %d, durable up to %d, proof %v; want the proof of group %d", i, r.gen, r.durable, r.proof, before.gen)
		}
	}
	// A Sync write then a Flush with nothing unsynced: the write's record
	// and its proof, nothing for the Flush.
	put("f", false)
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(oneProofEach(logRecords(t, path+"-wal"))); n != 9 {
		t.Errorf("%d records after a Sync write and a Flush, want 9", n)
	}
}

// TestDamageToARecordNeverLosesADurableWriteSilently: writers of every
// durability (Sync, NoSync, Async with Flushes), groups cut at a small
// record limit, the applier held so the log keeps every group. Then each
// record, in turn, is damaged in a copy of the files (as the medium may,
// after every fsync ended): Open refuses the copy (ErrCorrupt), or it
// holds every write acknowledged as durable (a Sync write that returned
// nil; a NoSync or Async write that returned before a Flush that then
// returned nil). The last record too (NoSync writes never made durable
// here, which a torn tail may take): every record a durable write is in
// has a record after it that says so (a proof, if nothing else).
func TestDamageToARecordNeverLosesADurableWriteSilently(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true, MaxRecordBody: 700, LogGrow: 8192})
	var mu sync.Mutex
	durable := map[string]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var pending []string // NoSync and Async writes since the last Flush
			vals := map[string]string{}
			for i := range 30 {
				k := fmt.Sprintf("w%d/%02d", w, i)
				v := fmt.Sprintf("%s=%0*d", k, 40+i*7, i)
				mode := (w + i) % 3 // 0 Sync, 1 NoSync, 2 Async
				op := &Op{Ctx: context.Background(), NoSync: mode == 1,
					Apply: func(wr Writer) error { return wr.Put(testBucket, []byte(k), []byte(v)) }}
				var err error
				if mode == 2 {
					err = e.Send(context.Background(), op)
				} else {
					err = do(e, op)
				}
				if err != nil {
					t.Error(err)
					return
				}
				vals[k] = v
				if mode == 0 {
					mu.Lock()
					durable[k] = v
					mu.Unlock()
				} else {
					pending = append(pending, k)
				}
				if i%5 == 4 {
					if err := e.Flush(context.Background()); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, p := range pending {
						durable[p] = vals[p]
					}
					mu.Unlock()
					pending = pending[:0]
				}
			}
		})
	}
	wg.Wait()
	// Three NoSync writes last: nothing says the first two were durable,
	// so damage to either reads as a power cut's (dropped, with what
	// follows it). NoSync allows it: none of them is in durable.
	for i := range 3 {
		k := fmt.Sprint("tail", i)
		if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(k)) }}); err != nil {
			t.Fatal(err)
		}
	}
	// The files as a crash now leaves them (nothing in flight).
	files := map[string][]byte{}
	for _, s := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + s)
		if err != nil {
			t.Fatal(err)
		}
		files[s] = data
	}
	recs := logRecords(t, path+"-wal")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 40 {
		t.Fatalf("%d records: too few", len(recs))
	}
	refused, opened := 0, 0
	for i, r := range recs {
		cp := filepath.Join(dir, fmt.Sprint("img", i), "v.db")
		if err := os.MkdirAll(filepath.Dir(cp), 0o700); err != nil {
			t.Fatal(err)
		}
		for s, data := range files {
			if s == "-wal" {
				data = append([]byte(nil), data...)
				clear(data[r.off+recHeader : r.off+recHeader+min(8, r.size-recHeader)])
			}
			if err := os.WriteFile(cp+s, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		o := opts
		o.LogPath, o.Hooks = cp+"-wal", Hooks{}
		o.Bolt.Timeout = time.Minute
		d, err := Open(cp, o)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("record %d (group %d) damaged: Open: %v, want ErrCorrupt", i, r.gen, err)
			}
			refused++
			continue
		}
		opened++
		for k, v := range durable {
			if got := readKey(t, d, k); got != v {
				t.Errorf("record %d (group %d, lag %d) damaged: Open succeeded, but %s, acknowledged as durable, reads %q",
					i, r.gen, r.gen-r.durable, k, got)
			}
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d records damaged in turn: %d refused, %d opened (dropped as a power cut's or a torn tail)", len(recs), refused, opened)
	if opened < 2 || refused < 30 {
		t.Errorf("%d refused, %d opened: the run proves too little", refused, opened)
	}
}

// TestAGroupCutDuringAnFsyncWaitsForIt: a group cut at the record limit
// while the log's fsync is in flight (its ops joined the open group) is
// logged only once that fsync has ended. Written at once, its record
// would say the group ahead of it was not durable: last in the log (the
// ops after the cut wrote nothing), damage to that group's record later
// would read as a power cut's, and Open would drop a Sync write that was
// acknowledged with no error.
func TestAGroupCutDuringAnFsyncWaitsForIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var block sync.Mutex // held: the log's fsyncs wait
	entered := make(chan struct{}, 16)
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true, MaxRecordBody: 700,
		SyncLog: func(f *os.File) error {
			entered <- struct{}{}
			block.Lock()
			defer block.Unlock()
			return Fdatasync(f)
		}})
	// put's op with fail fails from its second run on: cut at the limit
	// by its first, it runs again in the next group and fails there.
	put := func(k string, n int, fail bool) *Op {
		runs := 0
		return &Op{Ctx: context.Background(), Apply: func(w Writer) error {
			if err := w.Put(testBucket, []byte(k), make([]byte, n)); err != nil {
				return err
			}
			if runs++; fail && runs > 1 {
				return errors.New("refused after its change")
			}
			return nil
		}}
	}
	if err := do(e, put("warm", 10, false)); err != nil { // the file's growth, and its fsync
		t.Fatal(err)
	}
	for len(entered) > 0 {
		<-entered
	}
	block.Lock()
	done := make(chan error, 1)
	go func() { done <- do(e, put("s1", 100, false)) }()
	<-entered // s1's fsync is in flight
	// Async: queued in this order. s2 joins the open group; s3, with it
	// over the limit, is cut to the next group, where it fails (nothing
	// of it is logged).
	if err := e.Send(context.Background(), put("s2", 400, false)); err != nil {
		t.Fatal(err)
	}
	if err := e.Send(context.Background(), put("s3", 400, true)); err != nil {
		t.Fatal(err)
	}
	// s3 was taken (and cut) once the loop takes the next op.
	if err := e.Send(context.Background(), &Op{Ctx: context.Background(), NoSync: true, Apply: func(Writer) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	block.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// s2 durable: it shows once its fsync ended.
	for readKey(t, e, "s2") == "" {
		time.Sleep(time.Millisecond)
	}
	logData, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	boltData, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := dataRecords(t, path+"-wal")
	if err := e.Close(); err == nil || !strings.Contains(err.Error(), "refused after its change") {
		t.Fatalf("Close = %v, want s3's async failure", err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3 (warm, s1, s2)", len(recs))
	}
	if r := recs[2]; r.durable != r.gen-1 {
		t.Errorf("s2's group %d was written when the log was durable up to %d, not %d", r.gen, r.durable, r.gen-1)
	}
	// s1's record damaged on the medium: refused, or s1 (acknowledged) read.
	r := recs[1]
	clear(logData[r.off+recHeader : r.off+recHeader+8])
	cp := filepath.Join(dir, "img.db")
	if err := errors.Join(os.WriteFile(cp, boltData, 0o600), os.WriteFile(cp+"-wal", logData, 0o600)); err != nil {
		t.Fatal(err)
	}
	opts.LogPath, opts.Hooks = cp+"-wal", Hooks{}
	d, err := Open(cp, opts)
	if err == nil {
		defer d.Close()
		if readKey(t, d, "s1") == "" {
			t.Fatal("s1's record damaged: Open succeeded without s1, a Sync write acknowledged")
		}
	} else if !errors.Is(err, ErrCorrupt) {
		t.Fatal(err)
	}
}
