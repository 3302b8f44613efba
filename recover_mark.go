package ckpt

import (
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// raiseLoweredMark is RecoverLog's repair of a mark below the group its
// whole binding (bind) names, beside a log the scan from the mark found
// whole: it puts the mark back at bind.Gen if the log, scanned from there
// against the binding, is whole too (the binding's own log: groups it
// holds past bind.Gen stay for the next Open to replay, as a killed
// store's do). It reports whether it wrote the mark; a log the scan from
// bind.Gen finds damaged is left with the mark as it was (another
// store's log, or an earlier one of this store, never comes here: the
// scan from the lowered mark refused it). checked says the file's pages were checked already
// (checkIf); the mark is written after that check.
func raiseLoweredMark(db *bolt.DB, checked *bool, path, logPath string, bind engine.LogBinding, step func(string)) (bool, error) {
	rs, err := engine.ScanLogOf(logPath, bind.Gen, bind)
	if err != nil {
		return false, fmt.Errorf("ckpt: recover %s: %w", path, err)
	}
	if rs.Damage != nil {
		return false, nil
	}
	if err := checkIf(!*checked, db, path); err != nil {
		return false, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file: `ckpt verify` lists the damage, "+
			"and a backup of the file is the way out", path, err)
	}
	*checked = true
	if err := engine.GuardedUpdate(db, "recover: write the mark", func(tx *bolt.Tx) error {
		return appliedMark.SetApplied(engine.NewBoltView(tx), bind.Gen)
	}); err != nil {
		return false, fmt.Errorf("ckpt: recover %s: put the mark back: %w", path, err)
	}
	step("mark")
	return true, nil
}
