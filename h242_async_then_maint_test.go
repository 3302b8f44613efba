package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestH242AsyncFailureBeforeMaintenance: an Async Save whose group's
// persist fails (the log's fsync, or with NoWAL bbolt's commit), then a
// call that waits on durability (Rekey, Compact, Backup, BackupFile,
// Export, ApplyLog, GC), then Close. The failure names the Save's id
// exactly once among what the caller sees (the call's error, Close's),
// and the Save is absent after a reopen. Rekey, Compact and Backup take no Async failure for
// their own (WaitDurable, a solo op, a snapshot): Close reports it, or the
// call's own ErrFailed when the failure failed the store first. No other
// test puts Compact, Backup, BackupFile, Export, ApplyLog or GC between an Async
// failure and Close.
func TestH242AsyncFailureBeforeMaintenance(t *testing.T) {
	calls := map[string]func(ctx context.Context, s *Store, dir string) error{
		"rekey":   func(ctx context.Context, s *Store, _ string) error { _, err := s.Rekey(ctx); return err },
		"compact": func(ctx context.Context, s *Store, _ string) error { _, err := s.Compact(ctx, nil); return err },
		"backup":  func(ctx context.Context, s *Store, _ string) error { return s.Backup(ctx, io.Discard) },
		"backupfile": func(ctx context.Context, s *Store, dir string) error {
			return s.BackupFile(ctx, filepath.Join(dir, "b.db"))
		},
		"export": func(ctx context.Context, s *Store, _ string) error {
			_, err := s.Export(ctx, io.Discard, ExportOptions{})
			return err
		},
		"applylog": func(ctx context.Context, s *Store, _ string) error { return s.ApplyLog(ctx) },
		"gc": func(ctx context.Context, s *Store, _ string) error {
			_, err := s.GC(ctx, Policy{KeepLast: 5})
			return err
		},
	}
	for name, call := range calls {
		for _, how := range []string{"fsync", "nowal", "limit"} {
			for _, wait := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s %s wait=%v", name, how, wait), func(t *testing.T) {
					h242AsyncFailureBefore(t, call, how, wait)
				})
			}
		}
	}
}

// how: the log's fsync fails (the store fails), bbolt's commit fails
// (NoWAL: the store fails), or the Save's group passes the log's record
// limit (it fails alone, the store goes on). wait: the call starts once
// the failure happened (else as it happens).
func h242AsyncFailureBefore(t *testing.T, call func(context.Context, *Store, string) error, how string, wait bool) {
	noWAL := how == "nowal"
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	var armed atomic.Bool
	failed := make(chan struct{})
	fail := func() bool {
		if armed.CompareAndSwap(true, false) {
			close(failed)
			return true
		}
		return false
	}
	hooks := engine.Hooks{SyncLog: func(f *os.File) error {
		if fail() {
			return errors.New("disk on fire")
		}
		return engine.Fdatasync(f)
	}}
	if noWAL {
		hooks = engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail() {
				_ = tx.Rollback()
				return errors.New("disk on fire")
			}
			return tx.Commit()
		}}
	}
	size := 100
	if how == "limit" {
		hooks = engine.Hooks{MaxRecordBody: 16 << 10}
		size = 64 << 10
	}
	opts := Options{Durability: Async, NoWAL: noWAL, Encryption: &Encryption{Keys: []Key{testKey(1, 1)}},
		tuning: &tuning{hooks: hooks}}
	if how == "limit" { // heard once the loop failed the group
		opts.OnAsyncError = func(error) { close(failed) }
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "small", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	id, err := s.Save(ctx, "lost", map[string]any{"v": bytes.Repeat([]byte{7}, size)}, nil)
	if err != nil {
		t.Fatalf("the Async Save returned %v", err)
	}
	if wait {
		<-failed
	}
	callErr := call(ctx, s, dir)
	closeErr := s.Close()
	n := 0
	for _, e := range []error{callErr, closeErr} {
		if e != nil && strings.Contains(e.Error(), id) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the failed Save %s is named %d times; call: %v; Close: %v", id, n, callErr, closeErr)
	}
	r, err := Open(path, Options{Encryption: opts.Encryption, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.GetTuple(ctx, Config{ThreadID: "lost"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed Save's thread after a reopen: %v, want ErrNotFound", err)
	}
	if _, err := r.GetTuple(ctx, Config{ThreadID: "small"}); err != nil {
		t.Errorf("the flushed Save: %v", err)
	}
}
