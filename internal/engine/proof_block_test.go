package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAZeroedBlockOverTheLastRecordIsRefused: a Sync write b acknowledged,
// then the block of the medium (a 512-byte sector, or a 4 KiB one) that
// holds the end of b's record is zeroed, as a device that loses or
// misdirects a write may. The proof right after b's record is in that
// block too, so unless something beyond it says b was durable, the log
// reads as a crash during b's write (a torn tail) and Open drops an
// acknowledged write with no error. Open must refuse the copy
// (ErrCorrupt) or read b. b's value takes several lengths, so that its
// record ends at many places within a block. Before the fifteenth
// session every case lost b.
func TestAZeroedBlockOverTheLastRecordIsRefused(t *testing.T) {
	t.Parallel()
	for _, block := range []int{512, 4096} {
		for _, n := range []int{1, 100, 300, 470, 700, 1500, 3000, 4000, 5000} {
			t.Run(fmt.Sprintf("block=%d/value=%d", block, n), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "v.db")
				e, opts := vouchOpen(t, path, Hooks{HoldApplier: true})
				defer e.Close()
				put := func(k, v string) {
					t.Helper()
					if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}); err != nil {
						t.Fatal(err)
					}
				}
				put("a", "v-a")
				want := strings.Repeat("b", n)
				put("b", want)
				r := lastDataRecord(t, path+"-wal")
				end := r.off + r.size
				if end%block == 0 {
					t.Skipf("b's record ends on a block boundary: a zeroed block takes it or its proof, not both")
				}
				from := (end - 1) / block * block
				d := openDamagedLog(t, path, filepath.Join(dir, "img"), opts, func(log []byte) {
					clear(log[from:min(from+block, len(log))])
				})
				if d == nil {
					return // refused: ErrCorrupt
				}
				defer d.Close()
				if got := readKey(t, d, "b"); got != want {
					t.Fatalf("the block at %d (b's record ends at %d) zeroed: Open succeeded and b reads %d bytes, want %d: an acknowledged write lost with no error",
						from, end, len(got), len(want))
				}
			})
		}
	}
}

// TestLogVersion5Proofs: a proof after a record that does not end on a
// block boundary is padded up to the next one and a second follows there
// (one after a record that does, alone); the log reads back its groups.
// Forged to version 4 (one unpadded proof after each record), it reads
// the same groups. With the block holding the last record's end zeroed,
// version 5 refuses the log; version 4, whose proof was in that block
// too, reads it as a torn tail (the loss this version ends).
func TestLogVersion5Proofs(t *testing.T) {
	t.Parallel()
	const groups = 4
	path := proofLog(t, func(l *Log) {
		for gen := uint64(1); gen <= groups; gen++ {
			m := Mutation{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte(fmt.Sprint("k", gen)), Val: []byte(strings.Repeat("v", int(gen)*700))}
			if _, err := l.Append(gen, gen-1, []Mutation{m}); err != nil {
				t.Fatal(err)
			}
			proofOf(t, l, gen)
		}
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := chainRecords(data)
	var last logRecord
	for i, r := range recs {
		if r.proof {
			continue
		}
		last = r
		end := r.off + r.size
		p := recs[i+1]
		switch {
		case !p.proof || p.gen != r.gen:
			t.Fatalf("group %d: the record after it is %+v, want its proof", r.gen, p)
		case end%proofAlign == 0 && p.size != proofSize:
			t.Errorf("group %d ends on a block boundary: its proof is %d bytes, want %d", r.gen, p.size, proofSize)
		case end%proofAlign != 0 && ((p.off+p.size)%proofAlign != 0 || !recs[i+2].proof || recs[i+2].size != proofSize || recs[i+2].gen != r.gen):
			t.Errorf("group %d ends at %d: its proofs %+v and %+v, want one padded to the next block and one there", r.gen, end, p, recs[i+2])
		}
	}
	read := func(log []byte) ([]Group, error) {
		if err := os.WriteFile(path, log, 0o600); err != nil {
			t.Fatal(err)
		}
		return ReadLog(path, 0)
	}
	if got, err := read(data); err != nil || len(got) != groups {
		t.Fatalf("version 5: %d groups, %v; want %d", len(got), err, groups)
	}
	v4 := bytes.Clone(data)
	ForgeLogVersion(v4, logV4)
	for i, r := range chainRecords(v4) {
		if r.proof && (r.size != proofSize || i == 0 || chainRecords(v4)[i-1].proof) {
			t.Fatalf("forged to version 4: record %d is %+v, want one unpadded proof after each record", i, r)
		}
	}
	if got, err := read(v4); err != nil || len(got) != groups {
		t.Fatalf("forged to version 4: %d groups, %v; want %d", len(got), err, groups)
	}
	end := last.off + last.size
	from := (end - 1) / proofAlign * proofAlign
	zeroed := bytes.Clone(data)
	clear(zeroed[from : from+proofAlign])
	if got, err := read(zeroed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("version 5, the block holding the last record's end zeroed: %d groups, %v; want ErrCorrupt", len(got), err)
	}
	v4last := chainRecords(v4)[len(chainRecords(v4))-2] // the last group's record, before its proof
	v4end := v4last.off + v4last.size
	from = (v4end - 1) / proofAlign * proofAlign
	clear(v4[from:min(from+proofAlign, len(v4))])
	if got, err := read(v4); err != nil || len(got) >= groups {
		t.Errorf("version 4, the same damage: %d groups, %v; want fewer than %d and no error (read as a torn tail)", len(got), err, groups)
	}
}
