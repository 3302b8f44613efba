package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestH162HealthyFilesOpenEverywhere: the checks this session added to
// Open's log scan (a log beside a mark lowered or raised against the
// file's binding, bindingDamage, heldOf) and to recovery (raiseLoweredMark)
// must refuse or repair nothing on a file no damage touched. A store
// killed with groups logged and not applied, past a mark an apply moved,
// is opened every way a file is: read-only, read-write, NoWAL,
// RecoverLog first, the read-only store's BackupFile copy, after Compact
// and killed again; each reads every checkpoint back, recovery finds no
// damage, and Verify finds nothing wrong.
func TestH162HealthyFilesOpenEverywhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	held := saveN(t, s, "h", 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	u := openUnappliedWith(t, path, Options{})
	held = append(held, saveN(t, u, "h", 5, 3)...)
	applyNow(t, u)
	held = append(held, saveN(t, u, "h", 8, 3)...)
	killed := crashCopy(t, u)
	if len(logSpans(t, killed+walSuffix)) == 0 {
		t.Fatal("the killed store's log holds no group past the mark")
	}

	// fresh returns a copy of the killed store (file and log).
	fresh := func(from string) string {
		t.Helper()
		dst := filepath.Join(t.TempDir(), "c.db")
		for _, suffix := range []string{"", walSuffix} {
			if _, err := os.Stat(from + suffix); err == nil {
				copyFileIn(t, from+suffix, dst+suffix)
			}
		}
		return dst
	}
	check := func(what, p string, opts Options) {
		t.Helper()
		r, err := Open(p, opts)
		if err != nil {
			t.Fatalf("%s: Open (read-only %v, NoWAL %v): %v", what, opts.ReadOnly, opts.NoWAL, err)
		}
		checkLoads(t, r, "h", held)
		if !opts.ReadOnly {
			rep, err := r.Verify(ctx, VerifyOptions{})
			if err != nil {
				t.Fatalf("%s: Verify: %v", what, err)
			}
			if !rep.OK() {
				t.Errorf("%s: Verify: %+v", what, rep.Problems)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatalf("%s: Close: %v", what, err)
		}
	}

	check("read-only", fresh(killed), Options{ReadOnly: true})
	check("read-write", fresh(killed), Options{})
	nw := fresh(killed)
	check("NoWAL", nw, Options{NoWAL: true})
	check("read-write after NoWAL", nw, Options{})

	rc := fresh(killed)
	st, err := RecoverLog(rc, Options{})
	if err != nil {
		t.Fatalf("RecoverLog on a killed store: %v", err)
	}
	if st.Damaged || st.MarkRepaired || st.BindingRemoved {
		t.Errorf("RecoverLog on a killed store: %+v, want no damage and no repair", st)
	}
	check("read-write after RecoverLog", rc, Options{})

	ro, err := Open(fresh(killed), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	bk := filepath.Join(t.TempDir(), "bk.db")
	if err := ro.BackupFile(ctx, bk); err != nil {
		t.Fatalf("BackupFile of the read-only store: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	check("backup copy read-only", bk, Options{ReadOnly: true})
	check("backup copy", bk, Options{})

	cp := fresh(killed)
	w := openUnappliedWith(t, cp, Options{})
	if _, err := w.Compact(ctx, nil); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	held = append(held, saveN(t, w, "h", 11, 3)...)
	again := crashCopy(t, w)
	check("compacted, killed, read-only", fresh(again), Options{ReadOnly: true})
	check("compacted, killed, read-write", fresh(again), Options{})
	rc2 := fresh(again)
	if st, err := RecoverLog(rc2, Options{}); err != nil || st.Damaged || st.MarkRepaired {
		t.Errorf("RecoverLog on the compacted killed store: %+v, %v", st, err)
	}
	check("compacted, killed, recovered", rc2, Options{})
}
