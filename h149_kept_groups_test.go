package ckpt

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// h149Applied is a killed store whose applier took the log's first groups
// (ApplyLog: the log then starts again) before 3 more were acknowledged in
// the log only; and how many groups an Open of it replays: those bbolt
// does not hold.
func h149Applied(t *testing.T) (string, int64) {
	t.Helper()
	p, _ := h145Clean(t, 2)
	s, err := Open(p, Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true, LogGrow: loggedGrow}}})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "t", 2, 2)
	if err := s.ApplyLog(context.Background()); err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "t", 4, 3)
	cp := crashCopy(t, s)
	_ = s.Close()
	w, err := Open(h145Copy(t, cp), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := w.Metrics().LogGroupsReplayed
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the fixture's log holds no group bbolt lacks")
	}
	return cp, n
}

// h149PartApplied is a killed store whose log holds 5 groups, the first
// 2 of which bbolt took (its commit made here by the engine's Replay, as
// the applier's is) with the log not started again (the applier had not
// caught up); and the ids of its checkpoints.
func h149PartApplied(t *testing.T) (string, []string) {
	t.Helper()
	p, ids := h145Clean(t, 2)
	s, err := Open(p, Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true, LogGrow: loggedGrow}}})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, saveN(t, s, "t", 2, 5)...)
	cp := crashCopy(t, s)
	_ = s.Close()
	h149EditMeta(t, cp, func(b *bolt.Bucket) error {
		sc, err := engine.ScanLog(cp+walSuffix, binary.BigEndian.Uint64(b.Get(keyWALApplied)))
		if err != nil || sc.Damage != nil || len(sc.Groups) != 5 {
			t.Fatalf("the log: %+v, %v; want 5 whole groups", sc, err)
		}
		return appliedMark.Replay(engine.NewBoltView(b.Tx()), engine.GroupRefs(sc.Groups[:2]))
	})
	return cp, ids
}

// h149EditMeta runs fn on the meta bucket of the store file at path.
func h149EditMeta(t *testing.T, path string, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketMeta)) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// h149FlipMark raises the mark of the store file at path by flip and,
// if binding, damages the file's binding to its log too.
func h149FlipMark(t *testing.T, path string, flip uint64, binding bool) {
	t.Helper()
	h149EditMeta(t, path, func(b *bolt.Bucket) error {
		if binding {
			v := append([]byte(nil), b.Get(keyWALLog)...)
			v[3] ^= 0x10
			if err := b.Put(keyWALLog, v); err != nil {
				return err
			}
		}
		m := binary.BigEndian.Uint64(b.Get(keyWALApplied))
		return b.Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, m|flip))
	})
}

// TestRecoverKeptGroupsCountsOnlyWhatTheFileLacked: RecoverStats.KeptGroups
// says it counts the groups replayed that bbolt did not hold. After a
// replay from the group the file's binding to its log names (its mark
// raised by a flipped bit, below and above the range a log numbers), the
// groups RecoverLog keeps and the ones the Open after it replays must be
// what an Open of the intact copy replays: with the log started again
// after the applier caught up, and with the log holding groups bbolt took
// (h149PartApplied: 2 of 5).
func TestRecoverKeptGroupsCountsOnlyWhatTheFileLacked(t *testing.T) {
	t.Parallel()
	applied, want := h149Applied(t)
	part, _ := h149PartApplied(t)
	for _, fx := range []struct {
		name string
		base string
		want int64
	}{{"applied", applied, want}, {"applied in part", part, 3}} {
		for _, c := range []struct {
			name    string
			flip    uint64
			binding bool // its binding to its log damaged too
		}{
			{"a raised mark", 0x100, false},
			{"a mark past any group", 1 << 60, false},
			{"a mark past any group, its binding damaged", 1 << 60, true},
		} {
			t.Run(fx.name+", "+c.name, func(t *testing.T) {
				p := h145Copy(t, fx.base)
				h149FlipMark(t, p, c.flip, c.binding)
				st, err := RecoverLog(p, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if !st.MarkRepaired || st.DroppedGroups() != 0 {
					t.Fatalf("RecoverLog = %+v; want the mark repaired and nothing dropped", st)
				}
				w, err := Open(p, Options{})
				if err != nil {
					t.Fatalf("Open after RecoverLog: %v", err)
				}
				defer w.Close()
				replayed := w.Metrics().LogGroupsReplayed
				t.Logf("kept %d, Open replayed %d, the intact copy's Open %d", st.KeptGroups, replayed, fx.want)
				if c.binding && fx.name == "applied in part" {
					// Nothing says where the mark was: recovery puts it
					// before the first group of the log the live mark
					// names and leaves the log to Open, which replays all
					// 5 (again, for the 2 bbolt held: a replay is
					// idempotent). Kept, they would be counted.
					if st.KeptGroups != 0 || replayed != 5 {
						t.Errorf("RecoverLog kept %d groups and Open replayed %d; want 0 and the log's 5", st.KeptGroups, replayed)
					}
					return
				}
				if held := int64(st.KeptGroups) + replayed; held != fx.want {
					t.Errorf("RecoverLog kept %d groups and Open replayed %d after it; an Open of the intact copy replays %d (%+v)",
						st.KeptGroups, replayed, fx.want, st)
				}
			})
		}
	}
}
