package engine

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestFailStateKeepsTheFirstCause: the first failure is the one every
// later write reports, OnFail hears of it once, and only a bbolt failure
// stops bbolt writes.
func TestFailStateKeepsTheFirstCause(t *testing.T) {
	t.Parallel()
	var fs FailState
	var heard []FailSource
	fs.OnFail = func(src FailSource, _ error) { heard = append(heard, src) }
	if fs.Failed() != nil || fs.BoltFailed() {
		t.Fatal("a new FailState is failed")
	}
	first, second := errors.New("fsync of the log"), errors.New("commit")
	err := fs.Fail(FailLog, first)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, first) {
		t.Fatalf("Fail = %v, want ErrFailed wrapping the cause", err)
	}
	if fs.BoltFailed() {
		t.Fatal("a log failure counts as a bbolt failure")
	}
	if err := fs.Fail(FailBolt, second); !errors.Is(err, first) || errors.Is(err, second) {
		t.Fatalf("second Fail = %v, want the first cause", err)
	}
	if err := fs.Failed(); !errors.Is(err, first) {
		t.Fatalf("Failed = %v, want the first cause", err)
	}
	if len(heard) != 1 || heard[0] != FailLog {
		t.Fatalf("OnFail heard %v, want the log failure once", heard)
	}
}

// TestGuardWriteFailsOnPanicAndBeginWriteStops: a panic inside a write
// transaction rolls it back, fails the store as a bbolt failure (without
// poisoning it: the rollback worked), and no write transaction begins
// after that.
func TestGuardWriteFailsOnPanicAndBeginWriteStops(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var fs FailState
	tx, err := fs.BeginWrite(db)
	if err != nil {
		t.Fatal(err)
	}
	err = fs.GuardWrite("apply", tx, func() error { panic("page 7 already freed") })
	if !errors.Is(err, ErrCorrupt) || !FromPanic(err) {
		t.Fatalf("GuardWrite of a panic = %v, want ErrCorrupt", err)
	}
	if !fs.BoltFailed() || !errors.Is(fs.Failed(), ErrCorrupt) {
		t.Fatalf("after the panic: bolt failed %v, Failed %v", fs.BoltFailed(), fs.Failed())
	}
	if fs.Poisoned() {
		t.Fatal("the rollback worked: poisoned")
	}
	if tx, err := fs.BeginWrite(db); tx != nil || !errors.Is(err, ErrFailed) {
		t.Fatalf("BeginWrite after a bbolt failure = %v, %v; want ErrFailed", tx, err)
	}
	plain := errors.New("plain")
	var ok FailState
	tx, err = ok.BeginWrite(db) // the rollback above released the lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := ok.GuardWrite("x", tx, func() error { return plain }); err != plain || ok.Failed() != nil {
		t.Fatalf("GuardWrite of an error = %v (failed %v), want it unchanged and no failure", err, ok.Failed())
	}
}
