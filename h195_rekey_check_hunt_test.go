package ckpt

// A seeded hunt for false refusals of CheckRekey (rekey_check.go): stores
// whose records are sealed under random sequences of keys 1-4 (some
// plain, written before encryption; some with none sealed), checked with
// every key given in a random order (any of them newest), then with only
// the newest key used. Each check must pass, and Rekey on a copy with
// the same keys must then re-seal everything: the copy reads back whole
// with the newest key alone, and CheckRekey with it alone passes.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestH195CheckRekeyNoFalseRefusal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(195, 4))
	all := []Key{testKey(1, 10), testKey(2, 20), testKey(3, 30), testKey(4, 40)}
	checks, rekeys := 0, 0
	for round := range 12 {
		path := filepath.Join(t.TempDir(), "s.db")
		want := map[string]int{}
		// Sessions: each with one key newest (or none: plain records).
		for sess := range 1 + rng.IntN(4) {
			var keys []Key
			if round%6 != 0 || sess > 0 { // every sixth store starts plain
				keys = append(keys, all[rng.IntN(len(all))])
				for _, k := range all {
					if k.ID != keys[0].ID {
						keys = append(keys, k)
					}
				}
			}
			s := openKeys(t, path, keys...)
			for range 1 + rng.IntN(5) {
				th := fmt.Sprint("t", rng.IntN(6))
				want[th]++
				id, err := s.Save(ctx, th, map[string]any{"v": fmt.Sprint(th, want[th]), "n": want[th]}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if rng.IntN(2) == 0 {
					if err := s.PutWrites(ctx, Config{ThreadID: th, CheckpointID: id}, []Write{{Channel: "c", Value: want[th]}}, "task", ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for try := range 4 {
			keys := append([]Key(nil), all...)
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			ro, err := Open(path, Options{ReadOnly: true, Encryption: &Encryption{Keys: keys}})
			if err != nil {
				t.Fatal(err)
			}
			checked := ro.CheckRekey(ctx)
			if err := ro.Close(); err != nil {
				t.Fatal(err)
			}
			checks++
			if checked != nil {
				t.Errorf("round %d try %d, keys %v: CheckRekey: %v, want nil (every key given)", round, try, keyIDs(keys), checked)
				continue
			}
			cp := filepath.Join(t.TempDir(), "cp.db")
			if err := os.WriteFile(cp, before, 0o600); err != nil {
				t.Fatal(err)
			}
			w, err := Open(cp, Options{Encryption: &Encryption{Keys: keys}})
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := w.Rekey(ctx)
			if err := w.Close(); rerr == nil {
				rerr = err
			}
			if rerr != nil {
				t.Errorf("round %d try %d: Rekey after CheckRekey passed: %v", round, try, rerr)
				continue
			}
			rekeys++
			newest := []Key{keys[0]}
			r, err := Open(cp, Options{ReadOnly: true, Encryption: &Encryption{Keys: newest}})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.CheckRekey(ctx); err != nil {
				t.Errorf("round %d try %d: after Rekey, CheckRekey with the newest key alone: %v", round, try, err)
			}
			for th, n := range want {
				snap, err := r.Latest(ctx, th)
				var got int
				if err == nil {
					err = snap.Decode("n", &got)
				}
				if err != nil || got != n {
					t.Errorf("round %d try %d: thread %s after Rekey, newest key alone: %d, %v, want %d", round, try, th, got, err, n)
				}
				for tup, err := range r.List(ctx, ListOptions{ThreadID: th}) {
					var v string
					if err == nil {
						err = tup.Decode("v", &v) // each checkpoint's value, not only the newest
					}
					if err == nil {
						for _, pw := range tup.PendingWrites {
							var v int
							err = pw.Value.Decode(&v)
						}
					}
					if err != nil {
						t.Errorf("round %d try %d: thread %s after Rekey, newest key alone: list: %v", round, try, th, err)
						break
					}
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d CheckRekey calls passed, %d Rekeys after them left everything readable under the newest key alone", checks, rekeys)
}

func keyIDs(keys []Key) []uint32 {
	var ids []uint32
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}
