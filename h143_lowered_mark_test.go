package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestReplayFromALoweredMarkChangesNothing: a store file's mark lowered
// (a flipped bit, below the group its binding names) is not refused with
// a log beside the file: Open replays the log from it, groups bbolt holds
// already among them, on the word that the replay of a group bbolt holds
// changes nothing. That holds only if every logged change sets what it
// touches (a put, a delete, a bucket dropped, a sequence raised) rather
// than depending on what was there: a delete, a Prune or a DeleteThread
// replayed over a thread written again since, or a CopyThread over a
// copy deleted since, would otherwise bring back or lose checkpoints. A
// random run of every kind of write, applied and still in the log (a
// store killed after its applier caught up), the mark lowered to each
// group from the log's first on: a read-only Open reads what the file with its true mark
// reads, and a read-write Open (which writes the replay into bbolt) leaves
// every key, value and bucket sequence the true mark's replay leaves.
// CKPT_H143_SEEDS sets how many runs (1 by default; 40 held at the
// commit that added it).
func TestReplayFromALoweredMarkChangesNothing(t *testing.T) {
	t.Parallel()
	seeds := 1
	if v, err := strconv.Atoi(os.Getenv("CKPT_H143_SEEDS")); err == nil && v > 0 {
		seeds = v
	}
	for seed := range uint64(seeds) {
		loweredMarkRound(t, seed)
	}
}

func loweredMarkRound(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 143))
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
	threads := []string{"t0", "t1", "t2"}
	step := 0
	write := func() {
		step++
		th := threads[rng.IntN(len(threads))]
		var err error
		switch k := rng.IntN(10); {
		case k < 4:
			_, err = s.Save(ctx, th, map[string]any{"i": step, "msgs": make([]int, step%5)}, Metadata{"run_id": fmt.Sprint("r", step%3)})
		case k == 4:
			var tup *Tuple
			if tup, err = s.GetTuple(ctx, Config{ThreadID: th}); err == nil {
				err = s.PutWrites(ctx, tup.Config, []Write{{Channel: "msgs", Value: step}}, fmt.Sprint("task", step), "")
			}
		case k == 5:
			err = s.DeleteThread(ctx, th)
		case k == 6:
			err = s.Prune(ctx, []string{th}, PruneKeepLatest)
		case k == 7:
			if to := threads[rng.IntN(len(threads))]; to != th {
				err = s.CopyThread(ctx, th, to, CopyOptions{Replace: true})
			}
		case k == 8:
			err = s.DeleteForRuns(ctx, []string{fmt.Sprint("r", step%3)})
		default:
			err = s.Prune(ctx, []string{th}, PruneDelete)
		}
		if err != nil && !strings.Contains(err.Error(), "not found") {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
	}
	for range 18 {
		write()
	}
	// Applied, and still in the log (the next write would start it
	// again): a crash here leaves every group of the log in bbolt too.
	applyNow(t, s)
	cp := crashCopy(t, s)
	mark := readMark(t, cp)
	first := logSpans(t, cp+walSuffix)[0].Gen
	wantRead := storeReads(t, copyStore(t, cp))
	ref := copyStore(t, cp)
	reopenClosed(t, ref)
	wantFile := fileDump(t, ref)
	if first > mark {
		t.Fatalf("seed %d: the log starts at group %d, past the mark %d", seed, first, mark)
	}
	for m := first - 1; m < mark; m++ {
		c := copyStore(t, cp)
		editClosedFile(t, c, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, m))
		})
		if got := storeReads(t, c); got != wantRead {
			t.Errorf("seed %d: mark %d lowered to %d: a read-only Open reads\n%s\nwant\n%s", seed, mark, m, got, wantRead)
		}
		reopenClosed(t, c)
		if got := fileDump(t, c); !slices.Equal(got, wantFile) {
			t.Errorf("seed %d: mark %d lowered to %d: after a read-write Open the file holds\n%s\nwant\n%s",
				seed, mark, m, strings.Join(got, "\n"), strings.Join(wantFile, "\n"))
		}
	}
}

// readMark returns the applied mark of the closed store file at path.
func readMark(t *testing.T, path string) uint64 {
	t.Helper()
	var m uint64
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		m = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyWALApplied))
		return nil
	})
	return m
}

// storeReads opens the store at path read-only and returns every tuple it
// lists, as text.
func storeReads(t *testing.T, path string) string {
	t.Helper()
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer r.Close()
	var b strings.Builder
	for tup, err := range r.List(context.Background(), ListOptions{}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		parent := Config{}
		if tup.ParentConfig != nil {
			parent = *tup.ParentConfig
		}
		fmt.Fprintf(&b, "%+v %+v %+v parent %+v writes %+v\n", tup.Config, tup.Checkpoint, tup.Metadata, parent, tup.PendingWrites)
	}
	return b.String()
}

// reopenClosed opens the store at path read-write (replaying its log into
// the file) and closes it.
func reopenClosed(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileDump returns every bucket (with its sequence) and key of the closed
// store file at path, but for the mark, the binding and the live mark
// (which name the log each Open created).
func fileDump(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	var walk func(name []byte, b *bolt.Bucket) error
	walk = func(name []byte, b *bolt.Bucket) error {
		out = append(out, fmt.Sprintf("%x seq %d", name, b.Sequence()))
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(append(append(bytes.Clone(name), '/'), k...), b.Bucket(k))
			}
			if bytes.Equal(name, bucketMeta) && (bytes.Equal(k, keyWALApplied) || bytes.Equal(k, keyWALLog) || bytes.Equal(k, keyWALLive)) {
				return nil
			}
			out = append(out, fmt.Sprintf("%x %x = %x", name, k, v))
			return nil
		})
	}
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(name, b) })
	})
	return out
}
