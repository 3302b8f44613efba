// Package engine is ckpt's storage engine: bbolt, the write-ahead log and
// what keeps them consistent. It knows bucket paths as opaque [][]byte;
// what the buckets and keys mean is the root package's business
// (bucket_layout.go). The root package re-exports the sentinel errors, so
// errors.Is works with either name.
package engine

import (
	"errors"
	"os"
)

var (
	// ErrCorrupt: the file or a record in it is damaged or is not a ckpt file.
	ErrCorrupt = errors.New("ckpt: corrupt data")
	// ErrFormatVersion: the file or a record was written by a format version
	// this build does not know.
	ErrFormatVersion = errors.New("ckpt: unknown format version")
	// ErrDiskFull: a write found no room (the disk, a quota or the file
	// size limit) before anything of it was made durable: it failed
	// alone, nothing of it is stored, and the store goes on (the root
	// package re-exports it). It wraps the system's error, so
	// errors.Is(err, syscall.ENOSPC) holds too. A failed fsync is never
	// this, whatever its errno: the pages it dropped are unknown
	// (failstop.go), and the store fails instead (ErrFailed).
	ErrDiskFull = errors.New("ckpt: disk full")
)

// SyncDir fsyncs a directory, making a file created or renamed in it
// durable. On Windows it does nothing (syncdir_windows.go).
func SyncDir(dir string) error {
	if !dirSyncs {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
