package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Which bbolt commit failures are a clean rollback for want of room: the
// write's *os.PathError and the growth's formatted ftruncate error, with a
// no-room errno; never an fsync's (a bare errno from fdatasync, bbolt's
// "file sync error"), nor another errno.
func TestBoltCleanFull(t *testing.T) {
	t.Parallel()
	write := func(errno syscall.Errno) error { return &os.PathError{Op: "write", Path: "f", Err: errno} }
	for _, c := range []struct {
		err  error
		want bool
	}{
		{write(syscall.ENOSPC), true},
		{write(syscall.EDQUOT), true},
		{write(syscall.EFBIG), true},
		{fmt.Errorf("ckpt: commit: %w", write(syscall.ENOSPC)), true},
		{fmt.Errorf("file resize error: %s", &os.PathError{Op: "truncate", Path: "f", Err: syscall.ENOSPC}), true},
		{fmt.Errorf("file resize error: %s", &os.PathError{Op: "truncate", Path: "f", Err: syscall.EFBIG}), true},
		{write(syscall.EIO), false},
		{syscall.ENOSPC, false}, // bbolt's fdatasync: the pages' fate is unknown
		{&os.PathError{Op: "sync", Path: "f", Err: syscall.ENOSPC}, false},
		{fmt.Errorf("file sync error: %s", &os.PathError{Op: "sync", Path: "f", Err: syscall.ENOSPC}), false},
		{fmt.Errorf("file resize error: %s", &os.PathError{Op: "truncate", Path: "f", Err: syscall.EIO}), false},
		{fmt.Errorf("mmap allocate error: %s", syscall.ENOMEM), false},
		{errors.New("disk full"), false},
		{nil, false},
	} {
		if got := boltCleanFull(c.err); got != c.want {
			t.Errorf("boltCleanFull(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A record's write cut short by a full disk can leave a whole record in
// the page cache (its padding, and the hole after the bytes written, are
// zeros): takeBack zeroes its header, so no later fsync makes it a record a
// reopen replays, and the next group takes its place and number.
func TestLogTakeBackOfACutShortRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "l-wal")
	l, err := CreateLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	muts := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: []byte("failed")}}
	if _, err := l.Append(1, 0, muts); err != nil {
		t.Fatal(err)
	}
	// The second record written whole, its write reported as failed.
	off := l.off
	rec, _ := appendRecord(nil, l.id, l.seed, 2, 1, muts)
	if err := l.reserve(off + int64(len(rec)) + recHeader); err != nil {
		t.Fatal(err)
	}
	if _, err := l.f.WriteAt(rec, off); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if groups, err := ReadLog(path, 0); err != nil || len(groups) != 2 {
		t.Fatalf("before the take-back: %d groups, %v; want 2 (the test's premise)", len(groups), err)
	}
	full := &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	if err := l.takeBack(len(rec)-3, full); !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("takeBack = %v, want ErrDiskFull wrapping ENOSPC", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if groups, err := ReadLog(path, 0); err != nil || len(groups) != 1 {
		t.Fatalf("after the take-back: %d groups, %v; want 1", len(groups), err)
	}
	// The next group, number 2 again, in its place.
	next := []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: []byte("next")}}
	if _, err := l.Append(2, 1, next); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	groups, err := ReadLog(path, 0)
	if err != nil || len(groups) != 2 || string(groups[1].Muts[0].Val) != "next" {
		t.Fatalf("after the next group: %+v, %v", groups, err)
	}
	// Another failure is no take-back, nor is one whose fsync fails: the
	// store fails.
	if err := l.takeBack(1, &os.PathError{Op: "write", Path: path, Err: syscall.EIO}); errors.Is(err, ErrDiskFull) {
		t.Fatalf("takeBack of EIO = %v, want no ErrDiskFull", err)
	}
	l.sync = func(*os.File) error { return syscall.EIO }
	if err := l.takeBack(1, full); errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("takeBack with a failing fsync = %v, want ENOSPC without ErrDiskFull", err)
	}
}

// retryObserver hears the applier's retries and applies.
type retryObserver struct {
	nopObserver
	mu      sync.Mutex
	retries []time.Duration
	applied chan struct{}
}

func (o *retryObserver) ApplyRetry(_ error, after time.Duration) {
	o.mu.Lock()
	o.retries = append(o.retries, after)
	o.mu.Unlock()
}

func (o *retryObserver) Applied([]*Group) {
	select {
	case o.applied <- struct{}{}:
	default:
	}
}

// The background applier, finding no room, keeps the groups and tries
// again, later each time (the Observer hears when); the store takes writes
// meanwhile; once a try fits, bbolt holds them.
func TestApplierRetriesAfterDiskFull(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.db")
	var fails atomic.Int32
	fails.Store(3)
	obs := &retryObserver{applied: make(chan struct{}, 1)}
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: obs,
		Hooks: Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fails.Add(-1) >= 0 {
				_ = tx.Rollback()
				return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
			return tx.Commit()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := do(e, put("a")); err != nil {
		t.Fatal(err)
	}
	gen := e.wal.written
	select {
	case <-obs.applied:
	case <-time.After(time.Minute):
		t.Fatal("the applier never applied")
	}
	if err := e.Failed(); err != nil {
		t.Fatalf("the store failed: %v", err)
	}
	if got := e.Applied(); got < gen {
		t.Fatalf("applied %d, want %d", got, gen)
	}
	obs.mu.Lock()
	retries := obs.retries
	obs.mu.Unlock()
	if len(retries) != 3 || retries[0] != applyRetryMin || retries[1] != 2*applyRetryMin || retries[2] != 4*applyRetryMin {
		t.Fatalf("retries %v, want 3 from %v, doubling", retries, applyRetryMin)
	}
	if err := do(e, put("b")); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFull(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		what string
		err  error
		full bool
	}{
		{"a write", fmt.Errorf("x: %w", &os.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}), true},
		{"a truncate", &os.PathError{Op: "truncate", Path: "f", Err: syscall.EFBIG}, true},
		{"a creation", &os.PathError{Op: "open", Path: "f", Err: syscall.ENOSPC}, true},
		{"a rename", &os.LinkError{Op: "rename", Old: "f", New: "g", Err: syscall.ENOSPC}, true},
		{"a read", &os.PathError{Op: "read", Path: "f", Err: syscall.ENOSPC}, false},
		{"bbolt's resize", fmt.Errorf("file resize error: %s", syscall.EDQUOT), true},
		{"an fsync", &os.PathError{Op: "sync", Path: "f", Err: syscall.ENOSPC}, false},
		{"bbolt's fsync", fmt.Errorf("file sync error: %s", syscall.ENOSPC), false},
		{"a write refused otherwise", &os.PathError{Op: "write", Path: "f", Err: syscall.EIO}, false},
		{"the fail-stop", fmt.Errorf("%w: %w", ErrFailed, &os.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}), false},
	} {
		got := WriteFull(c.err)
		if errors.Is(got, ErrDiskFull) != c.full || !errors.Is(got, c.err) {
			t.Errorf("WriteFull(%s: %v) = %v, want ErrDiskFull %v, wrapping it", c.what, c.err, got, c.full)
		}
		// ErrDiskFull promises errors.Is(err, the errno) too, where
		// bbolt kept the errno only in its text as well.
		if c.full && !slices.ContainsFunc(noSpaceErrnos(), func(e syscall.Errno) bool { return errors.Is(got, e) }) {
			t.Errorf("WriteFull(%s: %v) = %v: errors.Is finds no errno of a full disk", c.what, c.err, got)
		}
	}
}

// TestBoltFullKeepsTheErrno: a commit that bbolt rolled back for want of
// room (its resize error, the errno only in its text) is ErrDiskFull, and
// errors.Is finds the errno, as ErrDiskFull promises (the group commit's,
// the applier's and the log binding's errors go through boltFull).
func TestBoltFullKeepsTheErrno(t *testing.T) {
	t.Parallel()
	for _, errno := range noSpaceErrnos() {
		err := boltFull(fmt.Errorf("file resize error: %s", &os.PathError{Op: "truncate", Path: "f", Err: errno}))
		if !errors.Is(err, ErrDiskFull) || !errors.Is(err, errno) {
			t.Errorf("boltFull(resize error %v) = %v: want ErrDiskFull and errors.Is(err, %v)", errno, err, errno)
		}
	}
}
