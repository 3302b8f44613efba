package ckpt

import (
	"errors"
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// cutShortSaid adds to err, an Open's refusal of the file at path as
// damage, what to do when the file holds only the start of a new store's
// pages (engine.CutShortAdvice): "not a ckpt file" or "truncated?" alone
// named nothing, where a read-write Open, or removing the file, is safe.
func cutShortSaid(path string, bo *bolt.Options, err error) error {
	if !errors.Is(err, ErrCorrupt) {
		return err
	}
	if advice := engine.CutShortAdvice(path, bo.PageSize, bo.ReadOnly); advice != "" {
		return fmt.Errorf("%w; %s", err, advice)
	}
	return err
}
