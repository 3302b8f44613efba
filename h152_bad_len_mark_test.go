package ckpt

import (
	"bytes"
	"context"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A mark stored with a length other than 8 bytes is damaged: it reads as
// group 0, which names no group the file holds. RecoverLog must treat it
// as the damaged mark it is (as one outside the range of group numbers):
// put it back where the binding, or the log the file's live mark names,
// says it was. Before, it took the 0 at its word: beside a log that had
// started again past the groups the file holds (the applier had caught
// up) and with the binding gone too, it reported the file's own groups as
// "in neither the file nor the log" and moved the log aside with the
// acknowledged writes only it held (helper-152's review of h149); beside
// a log of no record, or with no log and no binding, it repaired nothing
// and Verify went on reporting the mark.

// cutMark stores path's mark 7 bytes long.
func cutMark(t *testing.T, path string) {
	t.Helper()
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		v := bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALApplied))
		if len(v) != 8 {
			t.Fatalf("the mark is %d bytes before the cut", len(v))
		}
		return tx.Bucket(bucketMeta).Put(keyWALApplied, v[:7])
	})
}

// countThread lists thread in path read-only: every checkpoint must load.
func countThread(t *testing.T, path, thread string) int {
	t.Helper()
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer r.Close()
	n := 0
	for tp, err := range r.List(context.Background(), ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if _, err := r.GetTuple(context.Background(), tp.Config); err != nil {
			t.Fatalf("checkpoint %s: %v", tp.Config.CheckpointID, err)
		}
		n++
	}
	return n
}

func TestRecoverBadLengthMarkBesideARestartedLogKeepsIt(t *testing.T) {
	// The file holds groups 1-4 (4 checkpoints), its log 5-7 (3 more,
	// acknowledged), the log named by the file's live mark.
	cp, _ := h149Applied(t)
	cutMark(t, cp)
	editClosedFile(t, cp, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyWALLog) })
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if st.LostFirst != 0 || st.LostLast != 0 || st.DroppedGroups() != 0 || !st.MarkRepaired {
		t.Errorf("RecoverLog = %+v, want the mark repaired and nothing lost or dropped", st)
	}
	if n := countThread(t, cp, "t"); n != 7 {
		t.Errorf("after RecoverLog thread t holds %d checkpoints, 7 acknowledged", n)
	}
	if p := markProblems(t, cp); len(p) != 0 {
		t.Errorf("Verify after RecoverLog: %v", p)
	}
}

func TestRecoverBadLengthMarkBesideAnEmptyLogPutsItBack(t *testing.T) {
	// Killed right after a read-write Open: its log holds a header only,
	// the binding is whole.
	p, ids := h145Clean(t, 3)
	s, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cp := crashCopy(t, s)
	_ = s.Close()
	cutMark(t, cp)
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if !st.MarkRepaired {
		t.Errorf("RecoverLog = %+v, want the mark repaired", st)
	}
	if p := markProblems(t, cp); len(p) != 0 {
		t.Errorf("Verify after RecoverLog: %v", p)
	}
	if n := countThread(t, cp, "t"); n != len(ids) {
		t.Errorf("thread t holds %d checkpoints, %d acknowledged", n, len(ids))
	}
}

func TestRecoverBadLengthMarkWithNoBindingNorLogPutsItBack(t *testing.T) {
	p, ids := h145Clean(t, 3)
	cutMark(t, p)
	editClosedFile(t, p, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyWALLog) })
	st, err := RecoverLog(p, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if !st.MarkRepaired {
		t.Errorf("RecoverLog = %+v, want the mark repaired", st)
	}
	if p := markProblems(t, p); len(p) != 0 {
		t.Errorf("Verify after RecoverLog: %v", p)
	}
	if n := countThread(t, p, "t"); n != len(ids) {
		t.Errorf("thread t holds %d checkpoints, %d acknowledged", n, len(ids))
	}
}

// The same with the newest meta page damaged too (both transactions hold
// the 7-byte mark, the binding whole, no log): recovery, which reads the
// log unchecked after replacing a damaged meta page, took no binding and
// wrote the mark as 0 where the binding says 2, and Verify went on
// reporting the mark until the next read-write Open (helper-155's review).
// The binding is written with the mark in the same transaction: it says
// where the mark was whatever the meta page's damage.
func TestRecoverBadLengthMarkWithAMetaPageDamagedTakesTheBinding(t *testing.T) {
	path, first, last := twoSessions(t, Options{})
	cutMark(t, path)
	editClosedFile(t, path, func(tx *bolt.Tx) error { // a second transaction with the same mark
		v := bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALApplied))
		return tx.Bucket(bucketMeta).Put(keyWALApplied, v)
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, newest := metaPages(t, data)
	data[newest*ps+metaBodyAt+40] ^= 0x04 // the high-water mark
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := RecoverLog(path, Options{})
	if err != nil || !st.MetaRepaired || !st.MarkRepaired {
		t.Fatalf("RecoverLog = %+v, %v; want the meta page and the mark repaired", st, err)
	}
	if p := markProblems(t, path); len(p) != 0 {
		t.Errorf("Verify after RecoverLog: %v", p)
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, id := range []string{first, last} {
		if _, err := r.Load(context.Background(), "t", id); err != nil {
			t.Errorf("checkpoint %s after RecoverLog: %v", id, err)
		}
	}
}
