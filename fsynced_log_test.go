package ckpt

import (
	"os"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// fsyncedLog plays a power cut from what was fsync'd: the store opened
// with its tuning holds the applier (bbolt's file is written only when
// the store applies the log itself, and then fsync'd), and keeps the log's
// bytes as its last completed fsync began (what a write during that fsync
// added may not be on the disk).
type fsyncedLog struct {
	mu     sync.Mutex
	synced []byte
}

// newFsyncedLog returns a fsyncedLog and the tuning to open the store with.
func newFsyncedLog() (*fsyncedLog, *tuning) {
	p := &fsyncedLog{}
	tune := &tuning{}
	tune.hooks.HoldApplier = true
	tune.hooks.SyncLog = func(f *os.File) error {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		if err := engine.Fdatasync(f); err != nil {
			return err
		}
		p.mu.Lock()
		p.synced = b
		p.mu.Unlock()
		return nil
	}
	return p, tune
}

// cut writes at cut (and cut's log) what a power cut now leaves of the
// store at path: its file as it is, and the log as its last completed
// fsync began.
func (p *fsyncedLog) cut(t *testing.T, path, cut string) {
	t.Helper()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	log := p.synced
	p.mu.Unlock()
	if err := os.WriteFile(cut, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
}
