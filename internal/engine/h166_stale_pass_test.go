package engine

import "testing"

// A file whose mark and binding say group 5 (an older copy of the store
// file put back: its binding names the log, whose identity lives as long
// as the writer's run) beside its log, rewound at group 10 (bbolt held
// 1-10), whose new pass holds one record, group 11, not yet proven, and
// damaged in its body: its header, whole, says it is group 11, past the
// mark. The scan resumed below the mark (the binding names this log at
// this very mark) at the first record past the mark after the damage,
// group 6 of the earlier pass, kept 6-10, and said the damage was "in a
// record of a group the store file holds already" with nothing lost
// (Resumed: RecoverStats.KeptAll, `ckpt recover`: "nothing was lost"),
// though group 11, which the file lacks, was lost with it. A damaged
// record whose own header says it holds a group past both the mark and
// the last group read is a group lost with the damage: never passed.
func TestADamagedRecordPastTheMarkIsNotPassedOverIntoAnEarlierPass(t *testing.T) {
	t.Parallel()
	const id = 0x5eed
	old := forgeHeldLog(id, nil, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	l := forgeLog(id, old.data, false, 11)
	if l.at[11][1] >= old.at[6][0] {
		t.Fatalf("the new pass ends at %d, past the earlier record of group 6 at %d", l.at[11][1], old.at[6][0])
	}
	l.flip(11)
	sc := l.scan(t, 5, LogBinding{ID: id, Gen: 5})
	if d := sc.Damage; d == nil || d.Resumed || len(sc.Groups) != 0 {
		t.Fatalf("scan = groups %v, damage %+v: want the damage at group 11 refused, not passed over (nothing kept: it is the first record past the mark)",
			gensOf(sc.Groups), sc.Damage)
	}
}
