package ckpt

// Recovery of a damaged write-ahead log. Open never drops a logged group
// on its own except a torn tail (internal/engine/wal.go): a bad record
// with nothing valid after it, or with only records written before it was
// durable after it (a power cut's). A bad record with a valid record after
// it written once it was durable is damage that may hide acknowledged
// writes, so Open reports it (ErrCorrupt) and changes nothing. RecoverLog is the explicit way out: it keeps what
// can be trusted (the records before the damage), moves the damaged log
// aside for whoever wants to look at it, and says what was dropped.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// RecoverLog repairs the store at path whose write-ahead log is damaged
// (Open returned ErrCorrupt naming an offset in the log): it replays the
// log's valid records before the damage into the store file, fsync'd,
// then renames the log to path+"-wal.damaged-"+a UTC timestamp, so the
// next Open starts a new log. Writes acknowledged after the damage point
// are lost; RecoverStats says how many groups. A damaged bbolt meta page
// (a read-write Open refuses the file for it) is replaced, accepting the
// step back to the other page's transaction (RecoverStats.MetaRepaired):
// by the commit that replays the log's groups past that transaction's
// mark, as a read-write Open's replay does (RecoverStats.MetaReplayed:
// with the log whole, nothing is lost), or else rewritten from the other
// page. Before it writes anything (the meta page's
// repair, the kept groups) it checks every page of the file, as Verify
// does: a damaged page, or a file cut short, gives an error wrapping
// ErrCorrupt with nothing written (the log stays in place), since writing over a damaged page can put
// checkpoints the file still serves out of reach. The store must not be open
// (RecoverLog takes its lock; opts.LockTimeout and opts.Bolt apply). A log
// that is not damaged is left alone, unless the store file refuses one of
// its groups (every Open's replay fails on it): the groups before it are
// kept, the log is moved aside (RecoverStats.Refused). A file that says its log is live
// with no log beside it (Open refuses it: copied, renamed or linked
// without its log after a crash, or the log deleted) is accepted as it
// is: the mark is cleared (RecoverStats.LogMissing), and what the log
// held that the file lacked is lost. A damaged mark or binding to the log
// (Verify's "mark" problems) is repaired: the mark put back where the
// binding says (RecoverStats.MarkRepaired), a damaged binding removed
// (RecoverStats.BindingRemoved).
func RecoverLog(path string, opts Options) (RecoverStats, error) {
	var st RecoverStats
	path, err := storeFile(path) // the log sits beside the file a link names
	if err != nil {
		return st, err
	}
	if _, err := os.Stat(path); err != nil {
		return st, fmt.Errorf("ckpt: recover %s: %w", path, err)
	}
	if err := opts.checkBolt(); err != nil {
		return st, fmt.Errorf("ckpt: recover %s: %w", path, err)
	}
	bo := &bolt.Options{}
	if opts.Bolt != nil {
		*bo = *opts.Bolt
	}
	bo.Timeout = opts.LockTimeout
	if bo.Timeout <= 0 {
		bo.Timeout = time.Second
	}
	bo.ReadOnly = false
	db, file, err := engine.OpenBolt(path, bo)
	if err != nil {
		return st, openError(path, err)
	}
	step := func(string) {}
	if opts.tuning != nil && opts.tuning.recoverStep != nil {
		step = opts.tuning.recoverStep
	}
	step("opened")
	// Before anything commits: bbolt's first commit would overwrite the
	// damaged page without a word. The pages are checked before anything
	// is written (bbolt reads the file at the valid page's transaction,
	// the one the repair accepts): a file recovery refuses for a damaged
	// page must be left as it was, and a repaired meta page cannot be
	// taken back (the file then stands one transaction back, where it may
	// say its log is live, and every Open refuses it for a missing log).
	checked := false
	damage := engine.MetaDamage(file)
	if damage != nil {
		checked = true
		if err := checkBeforeWrite(db, path, "recover: check the file"); err != nil {
			_ = db.Close()
			if errors.Is(err, ErrCorrupt) {
				return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file or the log: `ckpt verify` lists the damage, "+
					"and a backup of the file is the way out", path, err)
			}
			return st, fmt.Errorf("ckpt: recover %s: %w", path, err)
		}
	}
	// With a meta page damaged the file is one transaction back, where the
	// log's binding may name the log before the one at the path: it is not
	// checked then (as Open does not), and the log's groups past the mark
	// go into the file in recovery's commit (recoverLog), which writes the
	// damaged slot as bbolt's next transaction: the damaged page is
	// replaced in the same commit that binds the file to the log at the
	// path. Rewritten first on its own (a kill, or recovery leaving the
	// whole log to Open, after it), the file stood one transaction back
	// with its binding naming the log before, and the store's own log was
	// refused as another store's.
	st, err = recoverLog(db, path, step, damage == nil, checked)
	if damage != nil && err == nil {
		// Nothing committed (nothing of a log to keep): the damaged page is
		// rewritten from the other one, accepting the step back.
		if engine.MetaDamage(file) != nil {
			if _, rerr := engine.RepairMeta(file, nil); rerr != nil {
				err = fmt.Errorf("ckpt: recover %s: %w", path, rerr)
			}
		}
		if err == nil {
			// Kept groups were replayed past the other page's mark: the
			// commit that did it replaced the damaged page (or one
			// before it, repairing a mark past any group, with the file
			// standing at the other page's transaction in between).
			st.MetaRepaired, st.MetaDamage, st.MetaReplayed = true, damage.Error(), st.KeptGroups > 0
		}
	}
	if engine.FromPanic(err) {
		// bbolt's locks may be held: its Close could wait for them forever.
		_ = engine.AbandonBolt(db, file)
		return st, err
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("ckpt: recover %s: %w", path, cerr)
	}
	// A replay whose commit found no room (bbolt rolled it back: the log
	// stays in place) is ErrDiskFull, as Open's.
	return st, engine.WriteFull(err)
}

// checked says the file's pages were checked already (checkBeforeWrite).
func recoverLog(db *bolt.DB, path string, step func(string), checkBinding, checked bool) (RecoverStats, error) {
	var st RecoverStats
	var applied uint64
	var bind engine.LogBinding
	var mc engine.MarkCheck
	var live bool
	var liveID uint64
	var markDamage error // the mark damaged by itself (Mark.Damaged)
	var markBind engine.LogBinding
	logPath := path + walSuffix
	// Through the engine's guarded begin and Guard, as Open reads: a
	// damaged page or a file cut short under us is ErrCorrupt, not a
	// fault that kills the process or a Begin that keeps bbolt's locks.
	err := engine.GuardedView(db, "recover: read the store's mark", func(tx *bolt.Tx) error {
		// A file cut short still opens; its missing pages would fault.
		if fi, err := os.Stat(path); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%w: the file is %d bytes but its pages reach %d bytes (truncated?)", ErrCorrupt, fi.Size(), tx.Size())
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: not a ckpt store (no format marker)", ErrCorrupt)
		}
		if err := checkFormat(meta.Get(keyFormat), meta.Get(keyFormatSum)); err != nil {
			return err
		}
		applied = appliedMark.Applied(engine.NewBoltView(tx))
		markDamage = appliedMark.Damaged(engine.NewBoltView(tx))
		// The binding is written with the mark in every commit that moves
		// it: whole, it says where this transaction's mark was, also after
		// a damaged meta page stepped the file back (checkBinding false:
		// the log is then not checked against it).
		markBind = appliedMark.Identity(engine.NewBoltView(tx))
		liveID, live = appliedMark.LiveLog(engine.NewBoltView(tx))
		if checkBinding {
			mc = appliedMark.Check(engine.NewBoltView(tx))
			bind = appliedMark.Identity(engine.NewBoltView(tx))
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("ckpt: recover %s: %w", path, err)
	}
	step("read")
	if markDamage != nil {
		// A damaged mark (no log numbers a group past 2^48-1, and a mark
		// not 8 bytes long is read as 0, which names no group the file
		// holds: taken at its word beside a log that started again past
		// the file's groups, it made them a gap and the log's groups
		// were dropped; a read-write Open refuses the first): the
		// binding, written with the mark by every commit that moves it,
		// under a checksum, says where it was. If it
		// is damaged too, the log the file's live mark names began at or
		// below the mark: it is replayed whole (a killed store's log holds
		// groups the file lacks, and every Open refuses the file until its
		// mark is back).
		gen, known := markBind.Gen, markBind.ID != 0
		var why error // why the live log does not say either
		if !known {
			// liveID is 0 with no live mark (LiveLogStart says so) and
			// with a damaged one, which is there: a log was live.
			if gen, why = engine.LiveLogStart(logPath, liveID); why == nil {
				known = true
			} else if live && liveID == 0 {
				why = errors.New("the file's live mark is damaged (not 8 bytes long: it says a log was live, not which)")
			}
		}
		if !known && engine.LogHoldsNothing(logPath) {
			// No log, or one of no record (a killed store's log, bound
			// and empty): nothing stored lies past the mark, whatever it
			// numbers. With its top two bytes cleared it is what it was
			// if a flip there was all its damage, and it numbers no group
			// in any case.
			gen, known = engine.MarkInRange(applied), true
		}
		if !known {
			return st, fmt.Errorf("ckpt: recover %s: %w, and the file's binding to its log, which would say where it was, "+
				"is missing or damaged too; nothing was written: the log beside it holds records, and the first of the live "+
				"log's would say where the mark was, but %v; so where the mark was is unknown (a read-only Open refuses it too)",
				path, markDamage, why)
		}
		if err := checkIf(!checked, db, path); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file: `ckpt verify` lists the damage, "+
				"and a backup of the file is the way out", path, err)
		}
		checked = true
		if err := engine.GuardedUpdate(db, "recover: write the mark", func(tx *bolt.Tx) error {
			return appliedMark.SetApplied(engine.NewBoltView(tx), gen)
		}); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: put the mark back: %w", path, err)
		}
		st.MarkRepaired, applied = true, gen
		step("mark")
	}
	// A damaged binding goes (Open reads it as none all the same, and the
	// next read-write Open binds its new log), and a mark its whole
	// binding contradicts goes back where the binding says (Verify reports
	// both; on a store closed cleanly nothing else would). The mark only
	// with no log beside the file: with one, the log's scan below checks
	// the mark against the binding and the log's groups, and replays the
	// log from the binding's group where they disagree (LogDamage.Bound,
	// a gap), which a mark put back first would leave to the next Open.
	// With a log beside the file, a damaged binding goes only once the
	// log's scan below has checked the log against what else names it
	// (LogBinding.Damaged, the live mark), in the commit that keeps its
	// groups or with the log moved aside: gone first, a crash before the
	// log is moved aside would leave a file that names no log beside a
	// log that may be another store's, which the next Open replays.
	logHere := !engine.LogAbsent(logPath)
	dropBinding := mc.BadBinding != nil && logHere
	fixMark := mc.BadMark != nil && bind.ID != 0 && !st.MarkRepaired && !logHere
	if (mc.BadBinding != nil && !dropBinding) || fixMark {
		if err := checkIf(!checked, db, path); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file: `ckpt verify` lists the damage, "+
				"and a backup of the file is the way out", path, err)
		}
		checked = true
		if err := engine.GuardedUpdate(db, "recover: write the mark", func(tx *bolt.Tx) error {
			if mc.BadBinding != nil {
				if err := appliedMark.DropBinding(engine.NewBoltView(tx)); err != nil {
					return err
				}
			}
			if fixMark {
				return appliedMark.SetApplied(engine.NewBoltView(tx), bind.Gen)
			}
			return nil
		}); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: repair the mark: %w", path, err)
		}
		st.BindingRemoved = mc.BadBinding != nil
		if fixMark {
			st.MarkRepaired, applied = true, bind.Gen
		}
		step("repaired")
	}
	if live && engine.LogAbsent(logPath) {
		// The file was copied, renamed or linked without its log, or the
		// log deleted: accept the file as it is.
		if err := checkIf(!checked, db, path); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file: `ckpt verify` lists the damage, "+
				"and a backup of the file is the way out", path, err)
		}
		if err := engine.GuardedUpdate(db, "recover: write", func(tx *bolt.Tx) error {
			step("clear")
			return appliedMark.ClearLive(engine.NewBoltView(tx))
		}); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: accept the file without its log: %w", path, err)
		}
		st.LogMissing = true
		return st, nil
	}
	sc, err := engine.ScanLogOf(logPath, applied, bind)
	if err != nil {
		return st, fmt.Errorf("ckpt: recover %s: %w", path, err)
	}
	d := sc.Damage
	if d == nil && checkBinding && len(sc.Groups) > 0 && mc.BadMark == nil && !dropBinding {
		// The log checks, but a group of it the file may refuse (Open's
		// replay fails on it every time): the groups before it are kept.
		at, why, err := refusedGroup(db, sc.Groups)
		if err != nil {
			return st, fmt.Errorf("ckpt: recover %s: try the log's groups: %w", path, err)
		}
		if at >= 0 {
			return keepBeforeRefused(db, path, logPath, step, checked, sc.Groups, at, why)
		}
	}
	if d == nil {
		if !checkBinding && len(sc.Groups) > 0 {
			// A damaged meta page (RecoverLog): the groups go in now, in
			// the commit that writes the damaged page's slot and binds
			// the file to this log (Replay); the log stays, holding
			// nothing past the mark.
			if err := replayCommit(db, step, engine.GroupRefs(sc.Groups), 0); err != nil {
				return st, fmt.Errorf("ckpt: recover %s: replay the log: %w", path, err)
			}
			st.KeptGroups = len(sc.Groups)
		}
		if lowered := mc.BadMark != nil && bind.ID != 0 && bind.Gen > applied && !st.MarkRepaired; lowered {
			// A mark below its whole binding's group with the log whole
			// from it (no gap: the log's first group is at or below the
			// mark): Open replays from the mark (again the groups bbolt
			// holds, which changes nothing), but the mark stays wrong,
			// and Verify reports it, until an apply moves it. It goes
			// back where the binding says, if the log agrees there (the
			// binding's log, whole past that group); else it is left as
			// it was. Another log beside the file does not come here:
			// the scan above refuses a log the whole binding does not
			// name under a lowered mark too (Foreign), and it is moved
			// aside below with the mark put back.
			back, err := raiseLoweredMark(db, &checked, path, logPath, bind, step)
			if err != nil {
				return st, err
			}
			st.MarkRepaired = back
		}
		if dropBinding {
			// The log is the file's (its live mark names it) or holds
			// nothing past the mark.
			if err := checkIf(!checked, db, path); err != nil {
				return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file: `ckpt verify` lists the damage, "+
					"and a backup of the file is the way out", path, err)
			}
			if err := engine.GuardedUpdate(db, "recover: write the mark", func(tx *bolt.Tx) error {
				return appliedMark.DropBinding(engine.NewBoltView(tx))
			}); err != nil {
				return st, fmt.Errorf("ckpt: recover %s: repair the mark: %w", path, err)
			}
			st.BindingRemoved = true
			step("dropped")
		}
		return st, nil
	}
	bound, boundSet := d.Bound, d.BoundSet
	if d.BoundSet {
		// The mark is above what the binding says bbolt took from this
		// log: replay the log from there (groups bbolt may hold already
		// are replayed again, which changes nothing), and the mark
		// follows its last group. The log's identity (the binding's)
		// goes with the scan as the live log's, which puts a damaged
		// header back from it (scanned with none, the log kept none of
		// its groups) and changes nothing else: the binding itself would
		// check the log against the mark it was written with.
		rs, err := engine.ScanLogOf(logPath, d.Bound, engine.LogBinding{Live: bind.ID})
		if err != nil {
			return st, fmt.Errorf("ckpt: recover %s: %w", path, err)
		}
		if rs.Damage == nil {
			// The log is whole: nothing of it is dropped (the damage's
			// groups were the mark's gap, or none), and the mark alone
			// was wrong.
			whole := *d
			whole.Bytes, whole.Group, whole.LaterFirst, whole.LaterLast = 0, 0, 0, 0
			rs.Damage = &whole
			st.LogWhole = true
		}
		sc, d = rs, rs.Damage
	}
	st = RecoverStats{Damaged: true, Reason: d.Reason, Offset: d.Offset, Foreign: d.Foreign, Unverified: d.Unverified, LogWhole: st.LogWhole, KeptAll: d.Resumed && d.CutLast == 0, KeptGroups: len(sc.Groups),
		DroppedFirst: d.Group, DroppedLast: d.LaterLast, DroppedBytes: d.Bytes, MarkRepaired: st.MarkRepaired, BindingRemoved: st.BindingRemoved}
	if d.LaterLast == 0 {
		st.DroppedFirst = 0
	}
	if d.Resumed && d.CutLast != 0 {
		// Nothing was lost with the damage, but the chain taken up past
		// it ended in a power cut's records: dropped, as Open drops them.
		st.PowerCut, st.DroppedFirst, st.DroppedLast = true, d.CutFirst, d.CutLast
	}
	if c := sc.Cut; st.LogWhole && c != nil {
		// Only the mark was wrong, but the log ends in a power cut's
		// records, dropped from the replay as Open drops them: not
		// "nothing dropped" (TestLogWholeIsNotSaidOfAPowerCutsTail).
		st.PowerCut, st.DroppedFirst, st.DroppedLast = true, c.Group, max(c.Group, c.LaterLast)
	}
	if d.Gap && !st.LogWhole && d.LaterFirst > d.Group {
		st.LostFirst, st.LostLast = d.Group, d.LaterFirst-1
	}
	// First make the valid prefix durable in the store file: a crash after
	// this and before the rename leaves a log whose prefix bbolt holds, and
	// running recovery again finishes the job.
	// The file stops saying a log is live in the same commit: the log
	// goes aside next (a crash in between leaves it in place).
	// A mark above the binding's group with nothing of the log past that
	// group (bbolt had taken the whole log): no replay moves the mark, so
	// it goes back where the binding says, in the same commit.
	// So does a mark its whole binding's group contradicts (below it, or
	// above) beside a log that is not the binding's (another store's, or
	// an earlier one of this store, moved aside keeping none of it): the
	// binding says where it was, as with no log beside the file.
	markWrong := d.Foreign && mc.BadMark != nil && bind.ID != 0 && bind.Gen != applied && !st.MarkRepaired
	if markWrong {
		bound = bind.Gen
	}
	markBack := bound != 0 && len(sc.Groups) == 0
	// A damaged binding beside a log none of whose groups are kept goes
	// only once that log is aside: gone in this commit, a crash before
	// the rename would leave a file that names no log (no binding, the
	// live mark cleared) beside a log that may be another store's, which
	// the next Open replays. Kept damaged, it makes that Open refuse such
	// a log (LogBinding.Damaged). A replay binds the log it replays over
	// it in this commit.
	dropAfter := dropBinding && len(sc.Groups) == 0
	if len(sc.Groups) > 0 || live || markBack {
		if err := checkIf(!checked, db, path); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file or the log: `ckpt verify` lists the damage, "+
				"and a backup of the file is the way out", path, err)
		}
		checked = true
		var markTo uint64
		if markBack {
			markTo = bound
		}
		if err := replayCommit(db, step, engine.GroupRefs(sc.Groups), markTo); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: replay the valid records: %w", path, err)
		}
		// The mark was wrong (above the binding's group, or below the
		// log's first): the replay from the binding's group, or markBack,
		// put it back.
		// A binding's group 0 (boundSet) is put back by the replay
		// alone: markTo 0 writes no mark.
		st.MarkRepaired = st.MarkRepaired || bound != 0 || (boundSet && len(sc.Groups) > 0)
		st.BindingRemoved = st.BindingRemoved || (dropBinding && !dropAfter)
	}
	if dropAfter {
		// The file's pages are checked before the log moves, as before
		// any write: a damaged file leaves the log in place.
		if err := checkIf(!checked, db, path); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: %w; nothing was written to the file or the log: `ckpt verify` lists the damage, "+
				"and a backup of the file is the way out", path, err)
		}
	}
	step("committed")
	if err := moveLogAside(&st, path, logPath, "the damaged log", step); err != nil {
		return st, err
	}
	if dropAfter {
		// A crash before this commit leaves the damaged binding beside no
		// log: the next RecoverLog removes it, and a read-write Open binds
		// its new log over it.
		if err := engine.GuardedUpdate(db, "recover: write the mark", func(tx *bolt.Tx) error {
			return appliedMark.DropBinding(engine.NewBoltView(tx))
		}); err != nil {
			return st, fmt.Errorf("ckpt: recover %s: the log is aside; remove the damaged binding to it: %w", path, err)
		}
		st.BindingRemoved = true
	}
	return st, nil
}

// checkIf is checkBeforeWrite for recovery, when do.
func checkIf(do bool, db *bolt.DB, path string) error {
	if !do {
		return nil
	}
	return checkBeforeWrite(db, path, "recover: check the file")
}

// checkBeforeWrite checks every page of the store file at path (db's), as
// Verify does, before recovery (or a backup, into its copy) writes to
// it. bbolt trusts the pages a write reads: a damaged leaf key (in order for the page check before a write, precheck.go,
// which reads only branch keys) is rewritten into a node whose order it breaks, and
// checkpoints that still loaded from the damaged file are then out of
// reach. A read-write Open would do the same, but recovery is the explicit
// step where damage is looked for, and its cost (a read of the whole file)
// is paid once.
func checkBeforeWrite(db *bolt.DB, path, what string) error {
	return engine.GuardedView(db, what, func(tx *bolt.Tx) error {
		if err := engine.TouchAll(tx, path); err != nil { // faults become errors here, not in Check's goroutine
			return err
		}
		var first error
		engine.NewBoltView(tx).CheckPages(func(err error) bool {
			first = err
			return false
		})
		if first != nil {
			return fmt.Errorf("%w: the store file is damaged: page check: %v", ErrCorrupt, first)
		}
		return nil
	})
}

// replayCommit is recovery's one write of the log's groups: bbolt takes
// groups (Replay binds the file to their log), the mark is put back to
// markTo when not 0 (no group moves it), and the file no longer says a
// log is live, all in one commit.
func replayCommit(db *bolt.DB, step func(string), groups []*engine.Group, markTo uint64) error {
	return engine.GuardedUpdate(db, "recover: write", func(tx *bolt.Tx) error {
		step("replay")
		if len(groups) > 0 {
			if err := appliedMark.Replay(engine.NewBoltView(tx), groups); err != nil {
				return err
			}
		}
		if markTo != 0 {
			if err := appliedMark.SetApplied(engine.NewBoltView(tx), markTo); err != nil {
				return err
			}
		}
		return appliedMark.ClearLive(engine.NewBoltView(tx))
	})
}

// moveLogAside renames the log at logPath to a name beside it that says
// when (st.MovedTo, "" if the rename failed) and makes the rename durable.
func moveLogAside(st *RecoverStats, path, logPath, what string, step func(string)) error {
	st.MovedTo = logPath + ".damaged-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(logPath, st.MovedTo); err != nil {
		st.MovedTo = ""
		return fmt.Errorf("ckpt: recover %s: move %s aside: %w", path, what, err)
	}
	step("moved")
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("ckpt: recover %s: %w", path, err)
	}
	return nil
}
