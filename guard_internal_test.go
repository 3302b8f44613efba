package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestPanicInBoltWriteFailsTheStore: a panic inside a bbolt write
// transaction (the applier's, on a damaged page) becomes ErrCorrupt and
// fails the store: later writes return an error wrapping ErrFailed and the
// cause, reads go on, Close works.
func TestPanicInBoltWriteFailsTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	resume := s.eng.PauseApplierForTest() // as the applier does around its transaction
	tx, err := s.eng.DB().Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	err = s.eng.FailStateForTest().GuardWrite("test", tx, func() error { panic("page 7 already freed") })
	resume()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("panic became %v, want ErrCorrupt", err)
	}
	_, err = s.Save(ctx, "t", map[string]any{"a": 2}, nil)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("write after the panic: %v, want ErrFailed and ErrCorrupt", err)
	}
	if _, err := s.Load(ctx, "t", id); err != nil {
		t.Fatalf("read after the panic: %v", err)
	}
	if s.eng.FailStateForTest().Poisoned() {
		t.Fatal("the rollback worked: the store must not be poisoned")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPoisonedStoreClosesAndReleasesTheFile: when bbolt's write lock stays
// held after a panic (the rollback panicked too), Close does not wait for
// it, and the file's lock is released: a new Open gets in.
func TestPoisonedStoreClosesAndReleasesTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	// A write transaction that is never closed holds bbolt's write lock,
	// as a panic half-way through a rollback leaves it.
	resume := s.eng.PauseApplierForTest()
	tx, err := s.eng.DB().Begin(true)
	resume()
	if err != nil {
		t.Fatal(err)
	}
	s.eng.FailStateForTest().Poison()
	s.eng.FailStateForTest().Fail(engine.FailBolt, engine.PanicErrorForTest("test", "rollback panicked"))
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed: // nothing was left to apply: no error needed
	case <-time.After(time.Minute): // failure detector only
		t.Fatal("Close waits for bbolt's write lock")
	}
	s2, err := Open(path, Options{LockTimeout: time.Minute})
	if err != nil {
		t.Fatalf("reopen after a poisoned Close: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback() // lets the abandoned DB.Close finish
}
