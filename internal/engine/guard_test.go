package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestGuardTurnsPanicIntoErrCorrupt(t *testing.T) {
	t.Parallel()
	err := Guard("read page", func() error { panic("page 94: has unexpected type") })
	if !errors.Is(err, ErrCorrupt) || !FromPanic(err) || !strings.Contains(err.Error(), "read page") || !strings.Contains(err.Error(), "page 94") {
		t.Fatalf("Guard of a panic = %v (from panic %v), want ErrCorrupt naming what and the page", err, FromPanic(err))
	}
	plain := errors.New("plain")
	if err := Guard("x", func() error { return plain }); err != plain || FromPanic(err) {
		t.Fatalf("Guard of an error = %v, want it unchanged", err)
	}
	f := func() (err error) {
		defer RecoverCorrupt(&err, "replay")
		panic("slice bounds out of range")
	}
	if err := f(); !errors.Is(err, ErrCorrupt) || !FromPanic(err) {
		t.Fatalf("RecoverCorrupt = %v, want ErrCorrupt", err)
	}
}

// A waiter that opened the path before a new file was renamed over it,
// and got the lock only when the holder closed the old one, must end up
// on the new file, not on the deleted one.
func TestOpenBoltFollowsAFileSwappedWhileWaiting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	holder, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{}, 4)
	bo := &bolt.Options{Timeout: time.Minute, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		opened <- struct{}{}
		return f, err
	}}
	type result struct {
		db  *bolt.DB
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		db, f, err := OpenBolt(path, bo)
		done <- result{db, f, err}
	}()
	<-opened // the waiter holds the old file and waits for its lock
	next := filepath.Join(dir, "next.db")
	nb, err := bolt.Open(next, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := nb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute): // failure detector only
		t.Fatal("OpenBolt did not return")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.db.Close()
	held, err := r.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	now, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(held, now) {
		t.Fatal("OpenBolt locked the replaced file, not the one at the path")
	}
}
