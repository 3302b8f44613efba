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
)

// SyncDir fsyncs a directory, making a file created or renamed in it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
