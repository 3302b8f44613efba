package ckpt

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// markProblems returns the problems Verify reports for the store file's
// mark and binding (Check "mark") on a read-only Open of path.
func markProblems(t *testing.T, path string) []Problem {
	t.Helper()
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer r.Close()
	rep, err := r.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var out []Problem
	for _, p := range rep.Problems {
		if p.Check != "mark" {
			t.Errorf("Verify reports %v, want only the mark", p)
			continue
		}
		out = append(out, p)
	}
	return out
}

// flipMeta flips mask into byte at of the value of key in the meta bucket
// of the closed store file at path.
func flipMeta(t *testing.T, path string, key []byte, at int, mask byte) {
	t.Helper()
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		v := bytes.Clone(tx.Bucket(bucketMeta).Get(key))
		if at >= len(v) {
			t.Fatalf("meta/%s is %d bytes", key, len(v))
		}
		v[at] ^= mask
		return tx.Bucket(bucketMeta).Put(key, v)
	})
}

// TestVerifyReportsDamagedBindingOfCleanStore: on a store closed cleanly
// (no log beside it), a flipped byte of the file's binding to its log
// (meta/wal-log: identity, mark and their checksum) or of the mark's low
// bytes (meta/wal-applied, below 2^48: CheckApplied lets it by) went
// unreported: Verify said OK, since the log's checks that catch them need
// a log. Either flip was harmless to a later read-write Open (it binds a
// new log at the mark as it reads it), but until then the file no longer
// tells its own log from another's, and Verify is where an operator looks
// for flipped bytes. Now Verify names each (Check "mark"), and `ckpt
// recover` (RecoverLog) repairs it: the damaged binding removed (what Open
// reads a damaged one as), the mark put back where the binding, written in
// the same commit under a checksum, says it was. Nothing is lost, and the
// store writes on.
func TestVerifyReportsDamagedBindingOfCleanStore(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ps := markProblems(t, base); len(ps) != 0 {
		t.Fatalf("an intact store: Verify reports %v", ps)
	}
	type flip struct {
		key  []byte
		at   int
		mask byte
		want string // in the problem's detail
	}
	var flips []flip
	for _, at := range []int{0, 15, 19} { // identity, mark, checksum
		flips = append(flips, flip{keyWALLog, at, 0x04, "binding"})
	}
	for _, at := range []int{2, 7} { // below the top two bytes CheckApplied covers
		flips = append(flips, flip{keyWALApplied, at, 0x01, "mark"})
	}
	for _, f := range flips {
		path := copyStore(t, base)
		flipMeta(t, path, f.key, f.at, f.mask)
		ps := markProblems(t, path)
		if len(ps) != 1 || !strings.Contains(ps[0].Detail, f.want) {
			t.Errorf("meta/%s byte %d ^ %#x: Verify reports %v, want one problem naming the %s", f.key, f.at, f.mask, ps, f.want)
			continue
		}
		st, err := RecoverLog(path, Options{})
		if err != nil {
			t.Fatalf("meta/%s byte %d: RecoverLog: %v", f.key, f.at, err)
		}
		if st.Damaged || st.MarkRepaired != bytes.Equal(f.key, keyWALApplied) {
			t.Errorf("meta/%s byte %d: RecoverLog = %+v", f.key, f.at, st)
		}
		if ps := markProblems(t, path); len(ps) != 0 {
			t.Errorf("meta/%s byte %d: after RecoverLog Verify reports %v", f.key, f.at, ps)
		}
		w, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("meta/%s byte %d: Open after RecoverLog: %v", f.key, f.at, err)
		}
		checkLoads(t, w, "t", ids)
		more := saveN(t, w, "t", 3, 1)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		checkLoads(t, r, "t", append(ids, more...))
		_ = r.Close()
	}
}

// TestVerifyReportsDamagedBindingBesideLog: the same damaged binding on a
// file a crash left with its log (the groups not yet in bbolt): a
// read-only Open replays the log (a damaged binding says nothing), and
// Verify names the binding.
func TestVerifyReportsDamagedBindingBesideLog(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	ids := saveN(t, s, "t", 0, 3)
	cp := crashCopy(t, s)
	flipMeta(t, cp, keyWALLog, 3, 0x10)
	ps := markProblems(t, cp)
	if len(ps) != 1 || !strings.Contains(ps[0].Detail, "binding") {
		t.Fatalf("Verify reports %v, want one problem naming the binding", ps)
	}
	w, err := Open(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkLoads(t, w, "t", ids)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ps := markProblems(t, cp); len(ps) != 0 {
		t.Errorf("after a read-write Open (which binds its new log) Verify reports %v", ps)
	}
}
