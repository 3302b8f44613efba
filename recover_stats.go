package ckpt

// What RecoverLog reports (recover.go): what was wrong, what it kept,
// dropped, repaired and moved aside.

// RecoverStats says what RecoverLog did.
type RecoverStats struct {
	// Damaged is false when the log was whole, missing, or ended in a torn
	// record (which Open drops by itself): then nothing was changed (but
	// for a missing log, LogMissing).
	Damaged bool
	// Reason and Offset say what was wrong and where in the log.
	Reason string
	Offset int64
	// Foreign says the log was not this store file's (another store's,
	// or an earlier log of this store): none of its groups were kept, and
	// no byte of it need be damaged.
	Foreign bool
	// Unverified (with Foreign) says nothing in the file named the log:
	// its binding to its log was damaged and no live mark named one, and
	// the log held groups past the file's mark. It may have been this
	// store's own log; it was moved aside all the same (put back beside
	// the file, the next Open replays it: the file then names no log).
	Unverified bool
	// LogWhole (with Damaged and MarkRepaired) says the log itself was
	// whole: only the store file's mark was wrong (Reason says how), the
	// log was replayed from the group the file's binding to it names,
	// nothing of it was dropped (but a power cut's records at its end,
	// with PowerCut), and it was moved aside all the same.
	LogWhole bool
	// KeptAll (with Damaged) says nothing was lost with the damage: it
	// was in records of groups the store file held already, in a proof
	// (a record that says the one before it was durable), or in the log's
	// header (put back from the file's binding and the first record), and
	// the log's records after it were whole and took up the chain again:
	// every group past the file's mark was kept (KeptGroups), none
	// dropped (DroppedBytes is the damaged span, not replayed). Not said
	// when those records ended in a power cut's (PowerCut).
	KeptAll bool
	// PowerCut (with Damaged) says the damage cost no group, as with
	// KeptAll or LogWhole, but the log's records after it ended in a
	// power cut's:
	// records all written before the first of them was durable, after a
	// lost proof or a torn record, which no one was told were durable.
	// Those groups (DroppedFirst..DroppedLast) were dropped, as Open drops
	// them; every group before them past the file's mark was kept.
	PowerCut bool
	// Refused (with Damaged) says the log itself was whole, but the store
	// file refused its group DroppedFirst (Reason says why: a value where
	// the group writes a bucket, a damaged page's): the groups before it
	// were kept (KeptGroups), it and those after it (to DroppedLast)
	// dropped, and the log moved aside. Every Open failed replaying it.
	// Offset is 0: no byte of the log is damaged.
	Refused bool
	// KeptGroups is how many groups of the valid prefix were replayed into
	// the store file (those it already held are not counted).
	KeptGroups int
	// DroppedFirst..DroppedLast are the groups dropped: from the damaged
	// one to the last valid record after it (0, 0 when the log's header
	// was damaged and its records cannot be told apart, or when its valid
	// records end below the group the store says it holds: which of them
	// the store lacks is then unknown).
	DroppedFirst, DroppedLast uint64
	// LostFirst..LostLast (not 0 only with the log's records whole and
	// starting past the group after the file's mark, a gap) are the first
	// groups dropped: in neither the file nor the log. The log's groups
	// after them (to DroppedLast) are dropped for lack of them: replayed
	// without them, they would write a state no store held. With
	// MetaRepaired they are what the damaged page's transaction held past
	// the other page's, the log having started again since without them:
	// lost with the page. A backup of the file is the way back to them.
	LostFirst, LostLast uint64
	// DroppedBytes is the length of the log from the damage to its last
	// non-zero byte.
	DroppedBytes int64
	// MarkRepaired says that the store file's mark of the last log group
	// it holds was damaged and was put back: past any group a log can
	// number (a read-write Open refused the file for it), to the group
	// its binding to its log names, or, the binding damaged too, to the
	// group before the first of the log its live mark names (replayed
	// whole), or, no log holding a record, to itself with its top two
	// bytes cleared (engine.MarkInRange: it then numbers nothing stored);
	// or not the group its binding names (Verify reports it), to the
	// group the binding names.
	MarkRepaired bool
	// BindingRemoved says that the store file's binding to its log (the
	// log's identity and the mark when written, under a checksum) was
	// damaged and was removed: Open reads a damaged one as none all the
	// same, and the next read-write Open binds the log it creates.
	BindingRemoved bool
	// MovedTo is where the damaged log is now (never deleted).
	MovedTo string
	// MetaRepaired says that one of bbolt's two meta pages was damaged (a
	// read-write Open refused the file for it) and was replaced: the file
	// steps back to the other page's transaction. Without MetaReplayed it
	// was rewritten from the other page and the file stands at that
	// transaction: whatever a newer transaction held is lost. MetaDamage
	// says what was wrong (the transaction the damaged page named, as its
	// bytes read).
	MetaRepaired bool
	MetaDamage   string
	// MetaReplayed (with MetaRepaired) says the step back was followed by
	// the replay of the log's groups past the other page's transaction
	// (KeptGroups of them), in the commit that replaced the damaged page:
	// every change a commit makes goes through the log first, so with
	// the log whole (Damaged false) the file holds every acknowledged
	// write the newer transaction held, and nothing was lost; with the
	// log damaged, what was dropped is what DroppedFirst..DroppedLast say.
	MetaReplayed bool
	// LogMissing says that the file said a log was live beside it (a
	// writer had it open and did not close it cleanly) and there was
	// none (Open refused the file for it): the file's state is accepted
	// as the store's, and the mark cleared; whatever the missing log held
	// that the file lacked is lost (how much is unknown).
	LogMissing bool
}

// DroppedGroups is how many groups recovery dropped.
func (st RecoverStats) DroppedGroups() uint64 {
	if st.DroppedLast == 0 {
		return 0
	}
	return st.DroppedLast - st.DroppedFirst + 1
}
