package engine

// Panic guards. bbolt trusts its file: a damaged page makes it panic ("page
// 94: has unexpected type/flags", a slice bound out of range from a damaged
// element count, "page N already freed") or fault on an address past its
// mapping. Every entry into bbolt runs under Guard, so the damage becomes an
// error wrapping ErrCorrupt instead of killing the process.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Guard runs fn; a panic or a memory fault inside it becomes an error
// wrapping ErrCorrupt that says what was being done and bbolt's message
// (which names the page where bbolt knows it).
func Guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = panicError(what, p)
		}
	}()
	return fn()
}

func panicError(what string, p any) error {
	return &panicErr{fmt.Sprintf("%s: bbolt failed on a damaged page: %v", what, p)}
}

// panicErr is a recovered panic: it wraps ErrCorrupt, and tells Open that
// bbolt's handle may be unusable (AbandonBolt, not DB.Close).
type panicErr struct{ msg string }

func (e *panicErr) Error() string { return ErrCorrupt.Error() + ": " + e.msg }
func (e *panicErr) Unwrap() error { return ErrCorrupt }

// opPanic is the error of an op that panicked with r; bolt says the panic
// was raised inside bbolt (inBolt). bbolt trusts its pages, so a panic in
// it while an op reads or writes is a damaged page, as is a memory fault
// (a length reaching past the map) and a view's bound check (BoltView.fit
// panics with an ErrCorrupt error): ErrCorrupt, as Guard makes it of a
// read's, not "write panicked", which a caller could not tell from a bug
// (TestWriteOverADamagedElementIsCorrupt). Any other panic is a bug.
func opPanic(r any, bolt bool) error {
	if err, ok := r.(error); ok && errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("ckpt: write: %w", err)
	}
	if _, fault := r.(interface{ Addr() uintptr }); fault || bolt {
		return panicError("write", r)
	}
	return fmt.Errorf("ckpt: write panicked: %v", r)
}

// inBolt tells, called by a function deferred while a panic unwinds,
// whether the panic was raised inside bbolt: the stack still holds the
// frames that panicked, and the first below runtime.gopanic that is not
// the runtime's own (a bound check's, a fault's) raised it. Only that
// one: an op's own code called back by bbolt (a ForEach) is not bbolt.
func inBolt() bool {
	var pcs [32]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	unwinding := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			unwinding = true
		case unwinding && !strings.HasPrefix(f.Function, "runtime."):
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt.") || strings.HasPrefix(f.Function, "go.etcd.io/bbolt/")
		}
		if !more {
			return false
		}
	}
}

// FromPanic tells whether err is a panic that Guard recovered.
func FromPanic(err error) bool {
	var p *panicErr
	return errors.As(err, &p)
}

// RecoverCorrupt is Guard for a function with a named error result:
// defer RecoverCorrupt(&err, what) right after setting the fault mode.
func RecoverCorrupt(err *error, what string) {
	if p := recover(); p != nil {
		*err = panicError(what, p)
	}
}

// AbandonBolt gives up a bbolt handle after a panic: its write lock may be
// held forever, so DB.Close could wait forever. Releasing the file lock
// and closing the file lets other processes, and a new Open in this one,
// in; DB.Close then runs in the background to unmap the file if bbolt's
// locks allow it (else the mapping stays until the process ends).
func AbandonBolt(db *bolt.DB, f *os.File) error {
	var err error
	if f != nil {
		err = unlockFile(f)
		if cerr := f.Close(); !errors.Is(cerr, os.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	if db != nil {
		go func() { _ = closeBolt(db) }()
	}
	return err
}

// TouchAll reads every key and value of every bucket in tx (a byte in
// each page's worth of it), under Guard. bbolt's page check (Tx.Check)
// runs in a goroutine of its own, where a fault on a damaged element whose
// key reaches past the mapped file cannot be recovered (it recovers panics,
// not faults): Verify walks the data here first, where the fault becomes
// ErrCorrupt. Keys inside branch pages are not walked (bbolt gives no way
// to reach them); a damaged one can still fault in Check.
//
// path is the store's file: bbolt keeps the name it opened a file under,
// which for a compacted file is the compaction's temporary name, gone
// after the rename (compact.go).
func TouchAll(tx *bolt.Tx, path string) error {
	if err := checkTx(tx, path); err != nil { // a cycle or a damaged overflow would run away (precheck.go)
		return fmt.Errorf("verify: %w", err)
	}
	return Guard("verify: walk the file", func() error {
		var sum byte
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			sum ^= touch(name)
			return touchBucket(b, &sum, 1)
		})
		touched.Store(uint32(sum)) // keeps the reads from being optimised away
		return err
	})
}

// maxBucketDepth is deeper than any bucket the layout makes
// (the root package's bucket_layout.go): a damaged bucket that leads deeper (or round in a
// circle) is reported instead of recursing until the stack is exhausted.
const maxBucketDepth = 8

func touchBucket(b *bolt.Bucket, sum *byte, depth int) error {
	if depth > maxBucketDepth {
		return fmt.Errorf("%w: buckets nested deeper than %d", ErrCorrupt, maxBucketDepth)
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		*sum ^= touch(k) ^ touch(v)
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				if err := touchBucket(sub, sum, depth+1); err != nil {
					return fmt.Errorf("bucket %q: %w", k, err)
				}
			}
		}
	}
	return nil
}

var touched atomic.Uint32

func touch(b []byte) byte {
	var s byte
	for i := 0; i < len(b); i += 4096 {
		s ^= b[i]
	}
	if len(b) > 0 {
		s ^= b[len(b)-1]
	}
	return s
}
