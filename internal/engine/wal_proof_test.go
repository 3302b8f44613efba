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
)

// The last record of a log has no record after it to say whether it was
// ever durable: damaged on the medium after its fsync, it reads as a torn
// tail (a crash during its write) and Open drops it, with no error. If a
// caller was told it was durable, an acknowledged write is then lost
// silently. So before groups are acknowledged as durable, a record that
// says they were (a proof) follows them, unless the next group's record
// already does (wal.go, commit.go's vouch).

// lastDataRecord returns the log's last record that holds changes.
func lastDataRecord(t *testing.T, path string) logRecord {
	t.Helper()
	recs := logRecords(t, path)
	for i := len(recs) - 1; i >= 0; i-- {
		if muts, err := decodeMuts(recs[i].body); err == nil && len(muts) > 0 {
			return recs[i]
		}
	}
	t.Fatal("no record with changes in the log")
	return logRecord{}
}

// TestDamageToTheLastAcknowledgedRecordIsRefused: a Sync write (or NoSync
// writes and a Flush) acknowledged, then the log's last record that holds
// changes is damaged in a copy of the files (as the medium may, after
// every fsync ended): Open refuses the copy (ErrCorrupt) or reads the
// acknowledged write. On the build before, Open dropped the record as a
// torn tail and the write was gone, with no error.
func TestDamageToTheLastAcknowledgedRecordIsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		write func(e *Engine, k string) error
	}{
		{"Sync", func(e *Engine, k string) error {
			return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }})
		}},
		{"NoSync then Flush", func(e *Engine, k string) error {
			if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }}); err != nil {
				return err
			}
			return e.Flush(context.Background())
		}},
	} {
		for _, where := range []string{"header", "body", "last byte"} {
			t.Run(c.name+"/"+where, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "v.db")
				e, opts := vouchOpen(t, path, Hooks{HoldApplier: true})
				defer e.Close()
				for i := range 3 {
					if err := c.write(e, fmt.Sprint("k", i)); err != nil {
						t.Fatal(err)
					}
				}
				r := lastDataRecord(t, path+"-wal")
				d := openDamagedLog(t, path, filepath.Join(dir, "img"), opts, func(data []byte) {
					switch where {
					case "header":
						data[r.off+2] ^= 0x40
					case "body":
						data[r.off+recHeader] ^= 0x01
					default:
						data[r.off+r.size-1] ^= 0x80
					}
				})
				if d == nil {
					return
				}
				defer d.Close()
				if got := readKey(t, d, "k2"); got != "v-k2" {
					t.Fatalf("the last acknowledged write's record damaged: Open succeeded and k2 reads %q, want %q", got, "v-k2")
				}
			})
		}
	}
}

// TestADamagedProofLosesNothing: the record after the last group (the
// proof that it was durable) damaged, or cut off as a crash during its
// write leaves it: Open reads every write.
func TestADamagedProofLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true})
	defer e.Close()
	for i := range 3 {
		k := fmt.Sprint("k", i)
		if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }}); err != nil {
			t.Fatal(err)
		}
	}
	recs := logRecords(t, path+"-wal")
	last := recs[len(recs)-1]
	if !last.proof {
		t.Fatalf("the log's last record (group %d) is not a proof", last.gen)
	}
	for i, edit := range []func(data []byte){
		func(data []byte) { data[last.off+recHeader] ^= 0x01 },
		func(data []byte) { clear(data[last.off : last.off+last.size]) },
	} {
		cp := crashCopyFiles(t, path, filepath.Join(dir, fmt.Sprint("img", i)), func(suffix string, data []byte) {
			if suffix == "-wal" {
				edit(data)
			}
		})
		o := opts
		o.LogPath, o.Hooks = cp+"-wal", Hooks{}
		d, err := Open(cp, o)
		if err != nil {
			t.Fatalf("image %d: Open = %v", i, err)
		}
		for j := range 3 {
			k := fmt.Sprint("k", j)
			if got := readKey(t, d, k); got != "v-"+k {
				t.Errorf("image %d: %s reads %q", i, k, got)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// proofLog writes a log at a new path with records made by write (given
// the open log) and returns its path.
func proofLog(t *testing.T, write func(l *Log)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write(l)
	return path
}

func proofPut(t *testing.T, l *Log, gen, durable uint64, key string) {
	t.Helper()
	m := Mutation{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte(key), Val: []byte("v")}
	if _, err := l.Append(gen, durable, []Mutation{m}); err != nil {
		t.Fatal(err)
	}
}

func proofOf(t *testing.T, l *Log, gen uint64) {
	t.Helper()
	if err := l.AppendProof(gen); err != nil {
		t.Fatal(err)
	}
}

// TestLogProofs: proofs are no groups: a log with one after each record
// reads back its groups alone; a proof of a later group than the record
// before it is damage; a proof first in its pass ends the chain (refused:
// its second copy says a group no record holds was durable), and one of
// an earlier pass chained after a new first record of the same body (an
// earlier pass over the file) ends the chain, never a false damage.
func TestLogProofs(t *testing.T) {
	t.Parallel()
	path := proofLog(t, func(l *Log) {
		for gen := uint64(1); gen <= 4; gen++ {
			proofPut(t, l, gen, gen-1, fmt.Sprint("k", gen))
			if gen != 3 {
				proofOf(t, l, gen)
			}
		}
	})
	groups, err := ReadLog(path, 0)
	if err != nil || len(groups) != 4 {
		t.Fatalf("a log with proofs: %d groups, %v; want 4", len(groups), err)
	}
	for i, g := range groups {
		if g.Gen != uint64(i+1) || len(g.Muts) != 1 {
			t.Fatalf("group %d read back as %+v", i+1, g)
		}
	}

	path = proofLog(t, func(l *Log) {
		proofPut(t, l, 1, 0, "a")
		proofOf(t, l, 2)
		proofPut(t, l, 2, 1, "b")
	})
	if _, err := ReadLog(path, 0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "a proof of group 2 follows group 1") {
		t.Fatalf("a proof of a later group: %v, want ErrCorrupt naming it", err)
	}

	// Never written (a proof follows a record): a proof first in the log
	// ends the chain, and its second copy a block on (version 5) says
	// group 1 was durable while no record of it is there: refused.
	path = proofLog(t, func(l *Log) { proofOf(t, l, 1) })
	if groups, err := ReadLog(path, 0); !errors.Is(err, ErrCorrupt) || len(groups) != 0 {
		t.Fatalf("a proof first in the log: %d groups, %v; want ErrCorrupt", len(groups), err)
	}

	// An earlier pass: group 5 and its proof; the new pass begins with
	// group 9 of the same body, so the earlier proof's seed matches.
	path = proofLog(t, func(l *Log) {
		proofPut(t, l, 5, 4, "same")
		proofOf(t, l, 5)
		l.Rewind()
		if err := l.ClearHead(); err != nil {
			t.Fatal(err)
		}
		proofPut(t, l, 9, 8, "same")
	})
	if groups, err := ReadLog(path, 8); err != nil || len(groups) != 1 || groups[0].Gen != 9 {
		t.Fatalf("a new pass over a proof of the earlier one: %+v, %v; want group 9 alone", groups, err)
	}
}

// TestAFailedProofFailsTheStoreKeepsTheWrite: the write of the proof
// after a Sync write fails (the log's file handle made read-only after
// the write's record): the write, durable, is acknowledged and reads
// back; the store fails, and nothing is logged after it.
func TestAFailedProofFailsTheStoreKeepsTheWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var e *Engine
	var once sync.Once
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
		err := Fdatasync(f)
		if e != nil && e.wal.written == 2 {
			once.Do(func() {
				_ = swapLogHandle(t, e, path+"-wal", os.O_RDONLY) // the commit loop is in this fsync's wait
			})
		}
		return err
	}})
	put := func(k string) error {
		return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }})
	}
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	if err := put("b"); err != nil {
		t.Fatalf("b, durable before its proof failed: %v", err)
	}
	if got := readKey(t, e, "b"); got != "v-b" {
		t.Fatalf("b reads %q", got)
	}
	if err := put("c"); !errors.Is(err, ErrFailed) {
		t.Fatalf("a write after the failed proof: %v, want ErrFailed", err)
	}
	_ = e.Close()
	o := opts
	o.Hooks = Hooks{}
	d, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for k, want := range map[string]string{"a": "v-a", "b": "v-b", "c": ""} {
		if got := readKey(t, d, k); got != want {
			t.Errorf("after reopen %s reads %q, want %q", k, got, want)
		}
	}
}
