package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// logN creates a log at a new path with groups 1..n (one put each) and
// returns the path and where each record starts and ends.
func logN(t *testing.T, n int) (path string, starts, ends []int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "s.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for gen := 1; gen <= n; gen++ {
		starts = append(starts, l.Offset())
		m := Mutation{Op: MutPut, Path: [][]byte{[]byte("b"), []byte("t")}, Key: []byte(fmt.Sprint("k", gen)), Val: bytes.Repeat([]byte{byte(gen)}, 100)}
		if _, err := l.Append(uint64(gen), uint64(gen-1), []Mutation{m, {Op: MutSeq, Path: [][]byte{[]byte("b")}, Seq: uint64(gen)}}); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, l.Offset())
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	return path, starts, ends
}

func TestLogRoundTrip(t *testing.T) {
	t.Parallel()
	path, _, _ := logN(t, 5)
	groups, err := ReadLog(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 {
		t.Fatalf("ReadLog after group 2: %d groups, want 3", len(groups))
	}
	for i, g := range groups {
		gen := uint64(i + 3)
		if g.Gen != gen || len(g.Muts) != 2 || string(g.Muts[0].Key) != fmt.Sprint("k", gen) ||
			!bytes.Equal(g.Muts[0].Val, bytes.Repeat([]byte{byte(gen)}, 100)) || g.Muts[1].Op != MutSeq || g.Muts[1].Seq != gen {
			t.Fatalf("group %d read back as %+v", gen, g)
		}
	}
}

// A record cut short at its end is a torn tail: dropped, no error. The
// same damage with a valid record after it is corruption.
func TestLogTornTailVersusDamage(t *testing.T) {
	t.Parallel()
	path, starts, ends := logN(t, 4)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash leaves the last record's end unwritten, and the file as long
	// as its growth made it (fsync'd before the record was written).
	torn := bytes.Clone(data)
	clear(torn[starts[3]+30 : ends[3]])
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if groups, err := ReadLog(path, 0); err != nil || len(groups) != 3 {
		t.Fatalf("torn tail: %d groups, %v; want 3, no error", len(groups), err)
	}
	// The file ending inside the record: only a log of version 1 (older
	// builds) can be left so by a crash; one of version 2 was cut short.
	cut := bytes.Clone(data[:ends[3]-5])
	for _, v := range []uint32{1, 2} {
		ForgeLogVersion(cut, v)
		if err := os.WriteFile(path, cut, 0o600); err != nil {
			t.Fatal(err)
		}
		groups, err := ReadLog(path, 0)
		if v == 1 && (err != nil || len(groups) != 3) {
			t.Fatalf("version 1, the file ending in its last record: %d groups, %v; want 3, no error", len(groups), err)
		}
		if v == 2 && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("version 2, the file ending in its last record: %d groups, %v; want ErrCorrupt", len(groups), err)
		}
	}
	flipped := bytes.Clone(data)
	flipped[starts[1]+30] ^= 1 // inside record 2's body; records 3 and 4 follow
	if err := os.WriteFile(path, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLog(path, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte with records after it: %v, want ErrCorrupt", err)
	}
	sc, err := ScanLog(path, 0)
	if err != nil || sc.Damage == nil || sc.Damage.Offset != starts[1] || len(sc.Groups) != 1 {
		t.Fatalf("ScanLog = %+v, %v; want damage at %d after 1 group", sc, err, starts[1])
	}
}

// Erase zeroes the records of failed groups, so they never come back.
func TestLogEraseDropsLaterRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var cut int64
	for gen := uint64(1); gen <= 4; gen++ {
		if gen == 3 {
			cut = l.Offset()
		}
		if _, err := l.Append(gen, gen-1, []Mutation{{Op: MutDel, Path: [][]byte{[]byte("b")}, Key: []byte("k")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Erase(cut); err != nil {
		t.Fatal(err)
	}
	if groups, err := ReadLog(path, 0); err != nil || len(groups) != 2 {
		t.Fatalf("after Erase: %d groups, %v; want 2", len(groups), err)
	}
}

// The sync function given to CreateLog is the one Sync and Erase use.
func TestLogSyncFailureIsReturned(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	l, err := CreateLog(filepath.Join(t.TempDir(), "s.db-wal"), func(*os.File) error { return boom })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want the sync function's error", err)
	}
	if err := l.Erase(HeaderSize); !errors.Is(err, boom) {
		t.Fatalf("Erase = %v, want the sync function's error", err)
	}
}
