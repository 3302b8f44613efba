package ckpt

// H254: a DeleteThread with the log, over a thread whose pages turned bad
// under the open store, returns nil once logged; the applier then fails
// on the damage and Close returns ErrCorrupt, the delete kept in the log.
// The promise holds only if what comes after keeps it: the deleted
// thread never comes back, on a reopen or through the recovery the
// errors point to, and no other thread loses an acknowledged checkpoint
// or reads one wrong.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// h254State is what a store holds: per thread, checkpoint id -> its
// state and metadata, printed.
type h254State map[string]map[string]string

// h254Read reads every thread's checkpoints of s into a state, through
// List (ErrCorrupt on the damaged thread is the caller's to judge).
func h254Read(ctx context.Context, s *Store, th string) (map[string]string, error) {
	got := map[string]string{}
	for tu, err := range s.List(ctx, ListOptions{ThreadID: th}) {
		if err != nil {
			return got, err
		}
		got[tu.Config.CheckpointID] = h254Print(tu)
	}
	return got, nil
}

// h254Print is a tuple's namespace, channel values and metadata, printed
// (fmt prints maps in key order).
func h254Print(tu *Tuple) string {
	vals := map[string]string{}
	for ch, v := range tu.Checkpoint.ChannelValues {
		if raw, ok := v.(Raw); ok {
			var x any
			if err := raw.Decode(&x); err != nil {
				return "decode: " + err.Error()
			}
			vals[ch] = fmt.Sprint(x)
		} else {
			vals[ch] = fmt.Sprint(v)
		}
	}
	return fmt.Sprint(tu.Config.CheckpointNS, vals, tu.Metadata, len(tu.PendingWrites))
}

// h254Exact checks that s holds exactly want's threads (each whole and
// exact) and not gone.
func h254Exact(ctx context.Context, t *testing.T, step string, s *Store, want h254State, gone string) {
	t.Helper()
	for th, cps := range want {
		got, err := h254Read(ctx, s, th)
		if err != nil {
			t.Errorf("%s: %s: %v", step, th, err)
			continue
		}
		for id, w := range cps {
			if got[id] != w {
				t.Errorf("%s: %s's %s reads %q, want %q", step, th, id, got[id], w)
			}
		}
		for id := range got {
			if _, ok := cps[id]; !ok {
				t.Errorf("%s: %s holds %s, never acknowledged into it", step, th, id)
			}
		}
	}
	if gone == "" {
		return
	}
	for tu, err := range s.List(ctx, ListOptions{ThreadID: gone}) {
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: the deleted %s: %v, want nothing", step, gone, err)
			}
			break
		}
		t.Errorf("%s: the deleted %s yields %s", step, gone, tu.Config.CheckpointID)
		break
	}
	if _, err := s.GetTuple(ctx, Config{ThreadID: gone}); !errors.Is(err, ErrNotFound) {
		t.Errorf("%s: GetTuple of the deleted %s: %v, want ErrNotFound", step, gone, err)
	}
	for ti, err := range s.Threads(ctx) {
		if ti.ThreadID == gone {
			t.Errorf("%s: Threads lists the deleted %s (%v)", step, gone, err)
		}
	}
}

// TestH254DeleteOfAThreadDamagedUnderTheOpenStoreStaysDeleted: a store
// with its log, a page of t1 damaged under it, saves to t0 and t2, a
// DeleteThread of t1 that returns nil, saves after it; Close fails. Then
// what Close's error says to run must bring back every acknowledged
// checkpoint of t0, t2 and w exact, and t1 never.
func TestH254DeleteOfAThreadDamagedUnderTheOpenStoreStaysDeleted(t *testing.T) {
	t.Parallel()
	built := filepath.Join(t.TempDir(), "built.db")
	h253Build(t, built, "wal")
	for _, c := range []string{"thread-leaf", "leaf-count", "leaf-overflow", "thread-leaf/then-save", "leaf-count/then-save"} {
		damage, then, _ := strings.Cut(c, "/")
		t.Run(c, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			copyFileIn(t, built, path)
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := h254State{}
			// failed: the applier failed the store (on the logged delete):
			// a Save then returns ErrFailed and is in no model.
			failed := false
			save := func(th string, i int) {
				t.Helper()
				id, err := s.Save(ctx, th, map[string]any{"th": th, "after": i}, Metadata{"h254": fmt.Sprint(i)})
				if err != nil && failed && errors.Is(err, ErrFailed) {
					return
				}
				if err != nil {
					t.Fatalf("save %s %d: %v", th, i, err)
				}
				tu, err := s.GetTuple(ctx, Config{ThreadID: th, CheckpointID: id})
				if err != nil {
					t.Fatalf("read back %s %s: %v", th, id, err)
				}
				if want[th] == nil {
					want[th] = map[string]string{}
				}
				want[th][id] = h254Print(tu)
			}
			save("w", 0)
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			for _, th := range []string{"t0", "t2", "w"} {
				got, err := h254Read(ctx, s, th)
				if err != nil {
					t.Fatal(err)
				}
				want[th] = got
			}
			pre := filepath.Join(t.TempDir(), "pre.db")
			if err := s.BackupFile(ctx, pre); err != nil {
				t.Fatal(err)
			}
			if !h253Damage(t, path, damage) {
				t.Skip("no such page")
			}
			for i := range 3 {
				save("t0", i)
				save("t2", i)
			}
			if err := s.DeleteThread(ctx, "t1"); err != nil {
				t.Skipf("DeleteThread returned %v: the promise asks nothing", err)
			}
			failed = true
			gone := "t1"
			if then != "" {
				// Saved into again: the new checkpoints, never the old.
				gone = ""
				want["t1"] = map[string]string{}
				for i := 10; i < 13; i++ {
					save("t1", i)
				}
			}
			for i := 3; i < 5; i++ {
				save("t0", i)
				save("w", i)
			}
			t.Logf("acknowledged after the delete: t1 %d, t0 %d, w %d", len(want["t1"]), len(want["t0"]), len(want["w"]))
			closeErr := s.Close()
			if !errors.Is(closeErr, ErrCorrupt) {
				t.Errorf("Close: %v, want ErrCorrupt", closeErr)
			}
			// What to run: a read-write reopen and RecoverLog refuse the
			// damaged page, so "reopen it" alone leads nowhere.
			h254Advice(t, "Close", closeErr)
			keep := t.TempDir()
			for _, suf := range []string{"", walSuffix} {
				copyFileIn(t, path+suf, filepath.Join(keep, "s.db"+suf))
			}
			if rw, err := Open(path, Options{}); err == nil {
				h254Exact(ctx, t, "reopen", rw, want, gone)
				_ = rw.Close()
			} else {
				h254Advice(t, "read-write Open", err)
			}
			if _, err := RecoverLog(path, Options{}); err == nil {
				if rw, err := Open(path, Options{}); err == nil {
					h254Exact(ctx, t, "after RecoverLog", rw, want, gone)
					_ = rw.Close()
				} else {
					t.Errorf("Open after RecoverLog: %v", err)
				}
			} else {
				h254Advice(t, "RecoverLog", err)
			}
			// The way out the advice names: a read-only Open (the log's
			// writes read too), Export SkipDamaged, Import into a new store.
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("read-only Open after the failed Close: %v", err)
			}
			h254Exact(ctx, t, "read-only", ro, want, gone)
			var dump bytes.Buffer
			if _, err := ro.Export(ctx, &dump, ExportOptions{SkipDamaged: true}); err != nil {
				t.Errorf("Export SkipDamaged: %v", err)
			}
			_ = ro.Close()
			nw, err := Open(filepath.Join(t.TempDir(), "new.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer nw.Close()
			if _, err := nw.Import(ctx, &dump, ImportOptions{}); err != nil {
				t.Errorf("Import of the dump: %v", err)
			}
			h254Exact(ctx, t, "saved", nw, want, gone)
			// The other way: the backup from before the damage put back
			// beside the kept log, which replays onto it.
			copyFileIn(t, pre, filepath.Join(keep, "s.db"))
			rw, err := Open(filepath.Join(keep, "s.db"), Options{})
			if err != nil {
				t.Fatalf("Open of the backup beside the kept log: %v", err)
			}
			h254Exact(ctx, t, "backup and log", rw, want, gone)
			if err := rw.Close(); err != nil {
				t.Errorf("Close of the backup and log: %v", err)
			}
		})
	}
}

// h254Advice fails t unless err, a refusal or a fail-stop over a page
// damaged in the file, says what to run: not "reopen it" (a read-write
// reopen refuses the file), the read-only way out to the sound threads.
func h254Advice(t *testing.T, step string, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("%s: %v, want ErrCorrupt", step, err)
		return
	}
	msg := err.Error()
	if strings.Contains(msg, "reopen it") || !strings.Contains(msg, "read-only") || !strings.Contains(msg, "skip-damaged") {
		t.Errorf("%s says %q: want the way out (a read-only Open, export --skip-damaged), not \"reopen it\"", step, msg)
	}
}
