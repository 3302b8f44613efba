package engine

import (
	"bytes"
	"encoding/binary"
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

// A record of version 3 says which group the log was known durable up to
// when it was written (its lag, wal.go). A bad record followed by valid
// ones is a power cut's, dropped as a torn tail, when each of them was
// written before the bad one was durable; damage, refused, when one was
// written after. Logs of versions 1 and 2, which do not record the lag,
// are always refused.

// lagLog writes groups 1..len(durable) into a new log, group g with
// durable[g-1] as the last group known durable when it was written, and
// returns the log's path and its records' offsets.
func lagLog(t *testing.T, durable []uint64) (path string, starts []int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "s.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, d := range durable {
		gen := uint64(i + 1)
		starts = append(starts, l.Offset())
		m := Mutation{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: fmt.Append(nil, "k", gen), Val: bytes.Repeat([]byte{byte(gen)}, 200)}
		if _, err := l.Append(gen, d, []Mutation{m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	return path, starts
}

// damageRecord zeroes the middle of the record at off in the file at path
// (its header intact: the record's body no longer checks).
func damageRecord(t *testing.T, path string, off int64, version uint32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if version != logVersion {
		ForgeLogVersion(data, version)
	}
	clear(data[off+recHeader+20 : off+recHeader+60])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLogBadRecordBeforeValidOnesIsDroppedOnlyAsAPowerCuts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		durable []uint64 // per group 1..n: the last group durable when it was written
		version uint32
		refused bool
	}{
		// Groups 4-6 written before 4 was durable (NoSync groups): a power
		// cut during their fsync may keep 5 and 6 and lose 4.
		{"written before 4 was durable", []uint64{0, 1, 2, 3, 3, 3}, logVersion, false},
		{"5 and 6 written while 3 was not durable either", []uint64{0, 1, 2, 2, 2, 3}, logVersion, false},
		{"nothing known durable", []uint64{0, 0, 0, 0, 0, 0}, logVersion, false},
		// 6 was written once 4 was durable: 4 was whole then.
		{"6 written once 4 was durable", []uint64{0, 1, 2, 3, 3, 4}, logVersion, true},
		{"each written once the one before was durable", []uint64{0, 1, 2, 3, 4, 5}, logVersion, true},
		{"version 2", []uint64{0, 1, 2, 3, 3, 3}, logV2, true},
		{"version 1", []uint64{0, 1, 2, 3, 3, 3}, logV1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path, starts := lagLog(t, c.durable)
			damageRecord(t, path, starts[3], c.version)
			groups, err := ReadLog(path, 0)
			if !c.refused {
				if err != nil || len(groups) != 3 {
					t.Fatalf("ReadLog = %d groups, %v; want groups 1-3 (4-6 dropped as a power cut's)", len(groups), err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "(where group 4 should be), and valid records of this log after it") {
				t.Fatalf("ReadLog = %d groups, %v; want ErrCorrupt at group 4", len(groups), err)
			}
			// What recovery keeps: the records before the bad one.
			sc, err := ScanLog(path, 0)
			if err != nil || len(sc.Groups) != 3 || sc.Damage == nil || sc.Damage.LaterFirst != 5 {
				t.Fatalf("ScanLog = %+v, %v; want groups 1-3 and damage with groups 5-6 after it", sc, err)
			}
		})
	}
}

// TestBboltTakesOnlyDurableGroups: bbolt never holds a group whose record
// a power cut can still take from the log. A NoSync group is handed to the
// applier once written, not fsync'd; had bbolt taken it so, a power cut
// could leave the log's valid records ending below bbolt's mark, which
// the scan refuses as damage (wal.go). Every bbolt commit here (the
// background applier's and the commit loop's) checks the log as its last
// completed fsync left it: its valid records must reach the mark the
// commit writes. Fails without the applier's fsync (logDurable).
func TestBboltTakesOnlyDurableGroups(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "d.db")
	logPath := path + "-wal"
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	var mu sync.Mutex
	var synced []byte // the log as the last completed fsync began
	commits, checked := 0, 0
	hooks := Hooks{
		SyncLog: func(f *os.File) error {
			data, err := os.ReadFile(logPath)
			if err != nil {
				return err
			}
			if err := Fdatasync(f); err != nil {
				return err
			}
			mu.Lock()
			synced = data
			mu.Unlock()
			return nil
		},
		CommitBolt: func(tx *bolt.Tx) error {
			m := mark.Applied(NewBoltView(tx))
			mu.Lock()
			img := synced
			commits++
			mu.Unlock()
			if m > 0 && img != nil {
				sc, err := scanLog(logPath, img, 0, LogBinding{})
				var last uint64
				if err == nil && len(sc.Groups) > 0 {
					last = sc.Groups[len(sc.Groups)-1].Gen
				}
				// The log restarts (rewinds) only once bbolt holds all of
				// it: a group below its first is bbolt's already.
				if err != nil || (len(sc.Groups) > 0 && last < m) {
					t.Errorf("bbolt commits mark %d while the log is durable up to group %d only (%v)", m, last, err)
				}
				mu.Lock()
				checked++
				mu.Unlock()
			}
			return tx.Commit()
		},
	}
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: logPath, Mark: mark,
		Observer: nopObserver{}, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		k := fmt.Sprint("k", i)
		op := &Op{NoSync: i%4 != 3, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v")) }}
		if err := do(e, op); err != nil {
			t.Fatal(err)
		}
		switch i % 10 {
		case 4:
			time.Sleep(3 * applyIdle) // the background applier's turn
		case 8:
			applyLog(t, e) // the commit loop's
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if checked < 6 {
		t.Fatalf("%d bbolt commits, %d checked against the log: too few", commits, checked)
	}
}

// TestLogLagField: a record's gen field round-trips gen and the durable
// group, saturates a long lag to "nothing known", and reads a field of an
// older version as the gen alone.
func TestLogLagField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		gen, durable, wantDurable uint64
	}{
		{1, 0, 0},
		{7, 6, 6},
		{100_000, 99_000, 99_000},
		{100_000, 1, 0}, // lag over 65534: nothing known
		{maxGen, maxGen - 1, maxGen - 1},
	} {
		f := genField(c.gen, c.durable)
		if gen, d := splitGen(f, logVersion); gen != c.gen || d != c.wantDurable {
			t.Errorf("genField(%d, %d) reads back as %d, %d; want %d, %d", c.gen, c.durable, gen, d, c.gen, c.wantDurable)
		}
		if gen, d := splitGen(c.gen, logV2); gen != c.gen || d != c.gen-1 {
			t.Errorf("version 2 field %d reads as %d, %d; want %d, %d", c.gen, gen, d, c.gen, c.gen-1)
		}
	}
	// A lag past the gen (never written) says nothing known, and so does
	// a lag of 0 in version 3; in version 4, lag 0 is a proof: durable up
	// to the gen itself.
	for _, f := range []uint64{5, 6<<48 | 5} {
		if gen, d := splitGen(f, logV3); gen != 5 || d != 0 {
			t.Errorf("version 3 field %#x reads as %d, %d; want 5, 0", f, gen, d)
		}
	}
	if gen, d := splitGen(6<<48|5, logVersion); gen != 5 || d != 0 {
		t.Errorf("field %#x reads as %d, %d; want 5, 0", 6<<48|5, gen, d)
	}
	if gen, d := splitGen(genField(5, 5), logVersion); gen != 5 || d != 5 {
		t.Errorf("a proof's field reads as %d, %d; want 5, 5", gen, d)
	}
	// Append refuses what the field cannot hold.
	l, err := CreateLog(filepath.Join(t.TempDir(), "s.db-wal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k")}}
	for _, c := range [][2]uint64{{maxGen + 1, maxGen}, {5, 5}, {5, 6}} {
		if _, err := l.Append(c[0], c[1], m); err == nil {
			t.Errorf("Append(gen %d, durable %d) = nil, want an error", c[0], c[1])
		}
	}
}

// logID is the identity in a log's header.
func logID(data []byte) uint64 { return binary.BigEndian.Uint64(data[16:]) }

// TestOpenMakesTheLogDurableBeforeReplaying: a killed process leaves
// records it never fsync'd (NoSync groups) in the page cache, where Open
// reads them. bbolt takes them only once they are durable in the log: the
// log is fsync'd before the replay's commit, or a power cut after that
// commit (before the new log replaces the old) would leave the old log's
// valid records below bbolt's mark.
func TestOpenMakesTheLogDurableBeforeReplaying(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "r.db")
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal", Mark: mark,
		Observer: nopObserver{}, Hooks: Hooks{HoldApplier: true}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k := fmt.Sprint("k", i)
		if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v")) }}); err != nil {
			t.Fatal(err)
		}
	}
	// The process is killed here: its files as they are (the page cache's).
	cp := crashCopyFiles(t, path, filepath.Join(dir, "crash"), nil)
	_ = e.Close()
	// Open fsyncs the old log, replays it into bbolt (one commit), then
	// creates the new log (CreatedLog): the fsync must come first.
	var synced, created bool
	opts.LogPath = cp + "-wal"
	opts.Hooks = Hooks{
		SyncLog: func(f *os.File) error {
			if !created {
				synced = true
			}
			return Fdatasync(f)
		},
		CreatedLog: func() {
			created = true
			if !synced {
				t.Error("Open replayed groups 1-5 into bbolt and replaced the log without fsyncing the log that held them")
			}
		},
	}
	r, err := Open(cp, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !created {
		t.Fatal("Open created no new log")
	}
	if got := readKey(t, r, "k4"); got != "v" {
		t.Fatalf("k4 after the replay = %q", got)
	}
}

// clearingHead tells whether an fsync of the log file f comes while its
// first record's header is zeros: Log.ClearHead's, before a new pass
// writes its first record (or a growth's before it). Tests that hold or
// fail the fsync of a record pass these through.
func clearingHead(f *os.File) bool {
	var h [recHeader]byte
	n, _ := f.ReadAt(h[:], logHeader)
	return n == recHeader && h == [recHeader]byte{}
}
