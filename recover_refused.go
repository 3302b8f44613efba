package ckpt

// Recovery of a whole log that holds a group the store file refuses
// (recover.go): one an older build acknowledged, or one logged before a
// damaged page turned the bucket it writes into a value. Open's replay
// fails on it every time; the log itself checks, so the scan for damage
// finds none.

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// errTrial ends refusedGroup's transaction: it only tries the groups.
var errTrial = errors.New("ckpt: recover: trial replay")

// refusedGroup replays groups into a transaction it rolls back and
// returns the index of the first that bbolt refuses as damage (-1: none)
// with the refusal. Another error (a disk, a fault) is err.
func refusedGroup(db *bolt.DB, groups []engine.Group) (at int, why, err error) {
	at = -1
	err = engine.GuardedUpdate(db, "recover: try the log's groups", func(tx *bolt.Tx) error {
		w := engine.NewBoltView(tx)
		for i := range groups {
			for j := range groups[i].Muts {
				if err := engine.ReplayMut(&groups[i].Muts[j], w); err != nil {
					if !errors.Is(err, ErrCorrupt) {
						return err
					}
					at, why = i, err
					return errTrial
				}
			}
		}
		return errTrial
	})
	if errors.Is(err, errTrial) {
		err = nil
	}
	return at, why, err
}

// keepBeforeRefused is recovery of a whole log whose group at bbolt
// refuses (refusedGroup): the groups before it go into the file in one
// commit that also clears the live mark, as the kept prefix of a damaged
// log does, and the log is moved aside. The file's pages are checked
// first, as before every write of recovery.
func keepBeforeRefused(db *bolt.DB, path, logPath string, step func(string), checked bool, groups []engine.Group, at int, why error) (RecoverStats, error) {
	st := RecoverStats{Damaged: true, Refused: true, KeptGroups: at, DroppedFirst: groups[at].Gen, DroppedLast: groups[len(groups)-1].Gen,
		// The refusal's own "ckpt: " prefixes (it wraps ErrCorrupt) would
		// repeat inside the sentence Reason is.
		Reason: fmt.Sprintf("the store file refuses group %d of the write-ahead log: %s", groups[at].Gen, strings.ReplaceAll(why.Error(), "ckpt: ", ""))}
	for _, g := range groups[at:] {
		st.DroppedBytes += int64(g.Size)
	}
	if err := checkIf(!checked, db, path); err != nil {
		return RecoverStats{}, fmt.Errorf("ckpt: recover %s: %s; %w; nothing was written to the file or the log: `ckpt verify` lists the damage, "+
			"and a backup of the file is the way out", path, st.Reason, err)
	}
	if err := replayCommit(db, step, engine.GroupRefs(groups[:at]), 0); err != nil {
		return RecoverStats{}, fmt.Errorf("ckpt: recover %s: replay the groups before the refused one: %w", path, err)
	}
	step("committed")
	err := moveLogAside(&st, path, logPath, "the log", step)
	return st, err
}
