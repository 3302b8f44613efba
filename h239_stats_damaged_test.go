package ckpt

// H239: a read-only Stats of a file whose damage is confined to one
// thread names that thread and sizes every other one, as Verify, Threads
// and Export do; a handle open for writing still fails Stats with
// ErrCorrupt. Before, one damaged thread failed the figures of the whole
// file (a user looking at a damaged file saw nothing).

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// h239StatsDamaged is what Stats says of damaged threads, read through
// its JSON (the field `ckpt stats --json` prints).
func h239StatsDamaged(t *testing.T, st *Stats) []string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Damaged []string `json:"damaged_threads"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	return j.Damaged
}

// h239CheckStats checks the Stats of ro, whose thread reads tell damaged
// from sound: every damaged thread named, every sound one counted whole
// (its checkpoints and bytes as Thread gives them), nothing of a damaged
// one counted.
func h239CheckStats(ctx context.Context, t *testing.T, name string, ro *Store) {
	t.Helper()
	var damaged []string
	var cps int
	var bytesSound int64
	threads := 0
	for info, err := range ro.Threads(ctx) {
		threads++
		switch {
		case errors.Is(err, ErrCorrupt) && info.ThreadID != "":
			damaged = append(damaged, info.ThreadID)
		case err != nil:
			t.Fatalf("%s: Threads: %v", name, err)
		default:
			cps += info.Checkpoints
			bytesSound += info.Bytes
		}
	}
	if len(damaged) == 0 {
		t.Fatalf("%s: no thread reads damaged", name)
	}
	st, err := h229Bounded2(t, name+" Stats", func() (*Stats, error) { return ro.Stats(ctx) })
	if err != nil {
		t.Fatalf("%s: read-only Stats: %v, want the figures of the sound threads and the damaged named", name, err)
	}
	if got := h239StatsDamaged(t, st); !slices.Equal(got, damaged) {
		t.Fatalf("%s: Stats names damaged threads %q, the reads %q", name, got, damaged)
	}
	var threadBytes int64
	for _, b := range st.Buckets {
		if strings.HasPrefix(b.Name, "threads/*/") {
			threadBytes += b.Bytes
		}
	}
	if st.Threads != threads || st.Checkpoints != cps || threadBytes != bytesSound {
		t.Fatalf("%s: Stats: %d threads, %d checkpoints, %d bytes of thread records; want %d threads, %d checkpoints and %d bytes (the sound threads')",
			name, st.Threads, st.Checkpoints, threadBytes, threads, cps, bytesSound)
	}
}

// h229Bounded2 is h229Bounded for a call with a result.
func h229Bounded2[T any](t *testing.T, name string, f func() (T, error)) (T, error) {
	t.Helper()
	var out T
	err := h229Bounded(t, name, func() (err error) { out, err = f(); return err })
	return out, err
}

// TestH239StatsOfADamagedRecordNamesItsThread: a flipped byte in t1's
// newest checkpoint record (its checksum fails).
func TestH239StatsOfADamagedRecordNamesItsThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	h186Build(t, path, rand.New(rand.NewPCG(1, 239)))
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThreads).Bucket([]byte("t1")).Bucket(bucketCheckpoints)
		k, v := b.Cursor().Last()
		v = append([]byte(nil), v...)
		v[len(v)/2] ^= 0x10
		return b.Put(append([]byte(nil), k...), v)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// Open for writing: Stats fails as a whole, as before.
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("read-write Open: %v", err)
	}
	if _, err := rw.Stats(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read-write Stats: %v, want ErrCorrupt", err)
	}
	if err := rw.Close(); err != nil && !errors.Is(err, ErrFailed) {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer ro.Close()
	h239CheckStats(ctx, t, "flipped record", ro)
}

// TestH239StatsOfACycleFileNamesTheDamagedThread: a page cycle confined
// to one thread's buckets (h229CycleFiles).
func TestH239StatsOfACycleFileNamesTheDamagedThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h239CheckStats(ctx, t, "cycle file", h229CycleStore(t))
}
