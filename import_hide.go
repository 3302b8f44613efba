package ckpt

// What a read-only handle shows of an import a killed process left
// unfinished: nothing. An import writes its threads into the file batch by
// batch, each listed under imports/ until the import publishes them; a
// read-write Open deletes the threads of an import left there
// (rollbackImports). A read-only handle cannot delete anything, and used to
// read them as they were left: half-written threads (ErrCorrupt in a List
// over the store, "list lineage holds 0 items"), and one Verify problem per
// thread, so `ckpt verify` failed on a file a killed import was supposed to
// have left as it was. It hides them instead: every read sees the file as
// it was before the import, which is what the next read-write Open makes
// of it. No writer can finish the import meanwhile: bbolt's lock keeps a
// read-write handle out while a read-only one is open, so the set found at
// Open stays true for the handle's life.

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// hideUnfinishedImports finds, on a read-only handle, the threads of
// imports left unfinished; reads then skip them (s.view). Marks that
// damage changed (import_marks.go) hide threads of the import that cannot
// be told from the file's: every read but Verify's is then that error.
func (s *Store) hideUnfinishedImports() error {
	var hidden map[string]bool
	var damaged error
	err := s.eng.View(context.Background(), func(r reader) error {
		hidden, _, _, damaged = checkedImports(r)
		return nil
	})
	if err != nil {
		return err
	}
	if damaged != nil {
		s.importDamage = fmt.Errorf("ckpt: %s: %w", s.path, damaged)
	}
	if len(hidden) > 0 {
		s.hidden = hidden
	}
	return nil
}

// hideImporting is the reader of a read taken while an Import runs in
// this process (engine.Unpublished): r without the threads the snapshot
// lists as an unfinished import's, which it holds half-written (a dump
// gives a thread's checkpoints before their values, and Import commits it
// in batches). What a read-only handle does for a killed import, for the
// one under way: reads see the store as it was before the import, then the
// threads whole once it publishes them. Cost, while an import runs only:
// each read scans the list of the threads it started so far and builds
// their set (an import of many threads makes every read beside it that
// much slower; reads with no import under way pay three atomic loads).
func (s *Store) hideImporting(r engine.Reader) engine.Reader {
	if hidden := unfinishedImports(r); len(hidden) > 0 {
		return hidingReader{r, hidden}
	}
	return r
}

// hidingReader is a reader without the threads in hidden: their buckets,
// their entries in the global index, the sweep bucket and the directory of
// threads.
type hidingReader struct {
	base   reader
	hidden map[string]bool
}

var (
	_ reader              = hidingReader{}
	_ engine.FileChecker  = hidingReader{}
	_ engine.TxUnderlying = hidingReader{}
)

// hides tells whether p is, or is inside, a hidden thread's bucket.
func (h hidingReader) hides(p bucketPath) bool {
	return len(p) >= 2 && bytes.Equal(p[0], bucketThreads) && h.hidden[string(p[1])]
}

// hidesKey tells whether key k of the bucket at p belongs to a hidden
// thread (the global index, the sweep bucket and the directory of threads
// name the thread in keys).
func (h hidingReader) hidesKey(p bucketPath, k []byte) bool {
	if len(p) != 1 {
		return false
	}
	switch {
	case bytes.Equal(p[0], bucketIndex):
		_, thread, _, err := parseIndexKey(k)
		return err == nil && h.hidden[thread]
	case bytes.Equal(p[0], bucketSweep):
		thread, _, err := parseSweepKey(k)
		return err == nil && h.hidden[thread]
	case bytes.Equal(p[0], bucketDir):
		thread, _, _, ok := parseDirKey(k) // the thread's key or one of its namespaces'
		return ok && h.hidden[thread]
	}
	return false
}

func (h hidingReader) Get(p bucketPath, key []byte) []byte {
	if h.hides(p) || h.hidesKey(p, key) {
		return nil
	}
	return h.base.Get(p, key)
}

func (h hidingReader) Scan(p bucketPath, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if h.hides(p) {
		return nil
	}
	if len(p) != 1 || !bytes.Equal(p[0], bucketIndex) && !bytes.Equal(p[0], bucketSweep) && !bytes.Equal(p[0], bucketDir) {
		return h.base.Scan(p, prefix, start, reverse, fn)
	}
	return h.base.Scan(p, prefix, start, reverse, func(k, v []byte) error {
		if h.hidesKey(p, k) {
			return nil
		}
		return fn(k, v)
	})
}

func (h hidingReader) Has(p bucketPath, key []byte) bool {
	return !h.hides(p) && !h.hidesKey(p, key) && h.base.Has(p, key)
}

func (h hidingReader) Exists(p bucketPath) bool { return !h.hides(p) && h.base.Exists(p) }

func (h hidingReader) Sequence(p bucketPath) uint64 {
	if h.hides(p) {
		return 0
	}
	return h.base.Sequence(p)
}

func (h hidingReader) Buckets(p bucketPath, after []byte, fn func(name []byte) error) error {
	if h.hides(p) {
		return nil
	}
	if len(p) != 1 || !bytes.Equal(p[0], bucketThreads) {
		return h.base.Buckets(p, after, fn)
	}
	return h.base.Buckets(p, after, func(name []byte) error {
		if h.hidden[string(name)] {
			return nil
		}
		return fn(name)
	})
}

// CheckPages and FileSize are the file's (Verify, Stats): bbolt's page
// check covers the hidden threads' pages too, which are sound.
func (h hidingReader) CheckPages(fn func(error) bool) {
	if fc, ok := h.base.(engine.FileChecker); ok {
		fc.CheckPages(fn)
	}
}

func (h hidingReader) FileSize() (int64, int) {
	if fc, ok := h.base.(engine.FileChecker); ok {
		return fc.FileSize()
	}
	return 0, 0
}

// Underlying gives engine.TxOf the reader beneath (Verify's meta check).
func (h hidingReader) Underlying() engine.Reader { return h.base }
