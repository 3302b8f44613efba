package engine

import (
	"path/filepath"
	"testing"
)

// A record's length is a u32: a group whose mutations passed 4 GiB was
// written with its length cut to the low 32 bits, a record no read could
// check (its writes acknowledged, lost at the next Open, the records
// after it read as damage). Append refuses it before it encodes or
// writes anything, and the log goes on.
func TestLogRefusesARecordPastItsLengthField(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		t.Skip("three 1.5 GiB values: the race detector's shadow of them is real memory")
	}
	path := filepath.Join(t.TempDir(), "s.db-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Never written: the OS backs them with no memory until copied.
	var muts []Mutation
	for i := range 3 {
		muts = append(muts, Mutation{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte{byte(i)}, Val: make([]byte, 3<<29)})
	}
	if _, err := l.Append(1, 0, muts); err == nil {
		t.Error("Append of a 4.5 GiB group: no error")
	}
	small := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: []byte("v")}}
	if _, err := l.Append(1, 0, small); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	groups, err := ReadLog(path, 0)
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	if len(groups) != 1 || string(groups[0].Muts[0].Key) != "k" {
		t.Fatalf("ReadLog: %d groups, want the small one", len(groups))
	}
}

// mutsLen is the length appendMuts writes.
func TestMutsLenIsTheEncodedLength(t *testing.T) {
	t.Parallel()
	var muts []Mutation
	for i := range 300 {
		muts = append(muts, Mutation{Op: MutOp(1 + i%4), Path: make([][]byte, i%4), Key: make([]byte, i*3), Val: make([]byte, i*i), Seq: uint64(i) << (i % 60)})
		for j := range muts[i].Path {
			muts[i].Path[j] = make([]byte, j*50)
		}
		// Each mutation alone, and the whole list at the counts where its
		// uvarint count grows a byte and at the end (every prefix encoded
		// in full was 675 MB of copying: three minutes under -race).
		if got, want := mutsLen(muts[i:]), uint64(len(appendMuts(nil, muts[i:]))); got != want {
			t.Fatalf("mutation %d alone: mutsLen %d, encoded %d", i, got, want)
		}
		if n := len(muts); n > 16 && n != 127 && n != 128 && n != 129 && n != 300 {
			continue
		}
		if got, want := mutsLen(muts), uint64(len(appendMuts(nil, muts))); got != want {
			t.Fatalf("%d mutations: mutsLen %d, encoded %d", len(muts), got, want)
		}
	}
}
