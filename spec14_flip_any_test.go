package ckpt_test

// Issue 14, held-out spec: a flipped byte anywhere in the data pages of a
// closed store (a sealed value of an encrypted store, whose bytes cannot be
// found by their content; a key; a page header; a file upgraded from
// format 2) may give any error, but never a wrong value and never a panic,
// and whatever a read refuses, Verify reports.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// spec14Reading is everything a store reads back, one fingerprint per
// checkpoint (config, parent, values' bytes, versions, metadata, pending
// writes).
type spec14Reading map[string]string

func spec14Fingerprint(tp *ckpt.Tuple) string { return strings.Join(spec14Parts(tp), "|") }

// spec14Parts lists a tuple's parts: its config, parent, versions,
// metadata, then one part per channel value and per pending write.
func spec14Parts(tp *ckpt.Tuple) []string {
	parts := []string{fmt.Sprintf("%+v", tp.Config)}
	if tp.ParentConfig != nil {
		parts = append(parts, "parent "+tp.ParentConfig.CheckpointID)
	}
	parts = append(parts, fmt.Sprintf("versions %v", tp.Checkpoint.ChannelVersions), fmt.Sprintf("seen %v", tp.Checkpoint.VersionsSeen), fmt.Sprintf("meta %v", tp.Metadata))
	chs := make([]string, 0, len(tp.Checkpoint.ChannelValues))
	for ch := range tp.Checkpoint.ChannelValues {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	for _, ch := range chs {
		raw, _ := tp.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		parts = append(parts, fmt.Sprintf("value %s@%s=%x", ch, tp.Checkpoint.ChannelVersions[ch], []byte(raw)))
	}
	for _, w := range tp.PendingWrites {
		parts = append(parts, fmt.Sprintf("write %s %s %d %s %x", w.TaskID, w.TaskPath, w.Idx, w.Channel, []byte(w.Value)))
	}
	return parts
}

func spec14TupleKey(c ckpt.Config) string {
	return c.ThreadID + "\x00" + c.CheckpointNS + "\x00" + c.CheckpointID
}

// spec14Read reads the whole store with List.
func spec14Read(t *testing.T, s *ckpt.Store) spec14Reading {
	t.Helper()
	out := spec14Reading{}
	for tp, err := range s.List(context.Background(), ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out[spec14TupleKey(tp.Config)] = spec14Fingerprint(tp)
	}
	return out
}

// spec14ReadDamaged reads a damaged copy through every read path and
// checks that nothing reads back other than in want. It returns how many
// reads failed, and whether Open itself refused the file.
func spec14ReadDamaged(t *testing.T, path string, opts ckpt.Options, want spec14Reading, vanished *int) (failed int, refused bool) {
	t.Helper()
	ctx := context.Background()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s: a read panicked: %v", path, p)
		}
	}()
	opts.ReadOnly = true
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return 0, true
	}
	defer s.Close()
	// A checkpoint read back with a value or a pending write missing (its
	// record's key damaged, so the record is not found under it) is not a
	// wrong value in what it returns, but the state is incomplete: it must
	// show in Verify. Anything else that differs is a wrong value.
	missing := 0
	same := func(what string, tp *ckpt.Tuple) {
		t.Helper()
		k := spec14TupleKey(tp.Config)
		w, ok := want[k]
		if !ok {
			t.Fatalf("%s: %s reads a checkpoint that was never written: %+v", path, what, tp.Config)
		}
		got := spec14Parts(tp)
		if strings.Join(got, "|") == w {
			return
		}
		wantParts := strings.Split(w, "|")
		for _, g := range got {
			if !slices.Contains(wantParts, g) {
				t.Fatalf("%s: %s reads a wrong value for %+v: %.400s\nnot among what was written:\n%.2000s", path, what, tp.Config, g, w)
			}
		}
		var lost []string
		for _, p := range wantParts {
			if !slices.Contains(got, p) {
				lost = append(lost, p)
			}
		}
		if *vanished+missing < 3 {
			t.Logf("%s: %s reads %+v without %.200v, and no error (Verify lists it)", path, what, tp.Config, lost)
		}
		missing++
	}
	threads := map[string]bool{}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rd := s.NewReader()
	for _, k := range keys {
		parts := strings.Split(k, "\x00")
		cfg := ckpt.Config{ThreadID: parts[0], CheckpointNS: parts[1], CheckpointID: parts[2]}
		threads[cfg.ThreadID] = true
		for name, get := range map[string]func(context.Context, ckpt.Config) (*ckpt.Tuple, error){"GetTuple": s.GetTuple, "Reader": rd.GetTuple} {
			tp, err := get(ctx, cfg)
			if err != nil {
				failed++
				continue
			}
			same(name, tp)
		}
		// Decoding every value: sound bytes (they matched) decode.
		if cfg.CheckpointNS == "" {
			if sn, err := s.Load(ctx, cfg.ThreadID, cfg.CheckpointID); err != nil {
				failed++
			} else if _, err := sn.StateMap(); err != nil {
				t.Fatalf("%s: Load %s/%s: a value read back whole does not decode: %v", path, cfg.ThreadID, cfg.CheckpointID, err)
			}
		}
	}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			failed++
			break
		}
		same("List", tp)
	}
	for thread := range threads {
		for sn, err := range s.History(ctx, thread, ckpt.ListOptions{}) {
			if err != nil {
				failed++
				break
			}
			if want[spec14TupleKey(ckpt.Config{ThreadID: thread, CheckpointID: sn.CheckpointID})] == "" {
				t.Fatalf("%s: History of %s yields a checkpoint never written: %s", path, thread, sn.CheckpointID)
			}
		}
		if _, err := s.Branches(ctx, thread); err != nil {
			failed++
		}
		if _, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{Threads: []string{thread}}); err != nil {
			failed++
		}
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil {
		t.Fatalf("%s: Verify could not run: %v", path, err)
	}
	if failed+missing > 0 && rep.OK() {
		t.Fatalf("%s: %d reads failed, %d read with an item missing, and Verify finds nothing wrong", path, failed, missing)
	}
	*vanished += missing
	return failed, false
}

// spec14FlipAnywhere flips one byte in each of n fresh copies of the
// closed store at path and reads each copy back: at a random offset past
// bbolt's two meta pages for even i, and for odd i inside a random one of
// targets (strings the file holds in plain text: live records), in every
// copy of it, which every read must notice (an error, Open refusing the
// file, or an item missing that Verify lists).
func spec14FlipAnywhere(t *testing.T, path string, opts ckpt.Options, n int, seed uint64, targets []string) {
	t.Helper()
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true, Encryption: opts.Encryption})
	if err != nil {
		t.Fatal(err)
	}
	want := spec14Read(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(targets)
	pageSize := os.Getpagesize()
	rng := rand.New(rand.NewPCG(seed, 14))
	dir := t.TempDir()
	var failedCopies, refused, vanished, randomSeen int
	for i := range n {
		b := bytes.Clone(orig)
		mask := byte(1 + rng.IntN(255))
		targeted := i%2 == 1 && len(targets) > 0
		if targeted {
			mk := []byte(targets[rng.IntN(len(targets))])
			at := rng.IntN(len(mk))
			for off := 0; ; {
				j := bytes.Index(b[off:], mk)
				if j < 0 {
					break
				}
				b[off+j+at] ^= mask
				off += j + len(mk)
			}
		} else {
			b[2*pageSize+rng.IntN(len(orig)-2*pageSize)] ^= mask
		}
		p := filepath.Join(dir, fmt.Sprintf("flip-%03d.db", i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := vanished
		failed, ref := spec14ReadDamaged(t, p, opts, want, &vanished)
		seen := failed > 0 || ref || vanished > before
		if failed > 0 {
			failedCopies++
		}
		if ref {
			refused++
		}
		if targeted && !seen {
			t.Fatalf("flip %d inside a live record: every read still reads the store as written", i)
		}
		if !targeted && seen {
			randomSeen++
		}
		_ = os.Remove(p)
	}
	t.Logf("%d flips (half at random offsets, %d of which reads noticed): %d copies with reads refused, %d refused by Open, %d reads with an item missing (Verify lists them)", n, randomSeen, failedCopies, refused, vanished)
}

// TestSpec14RandomFlipsInEncryptedStore: 200 flips (50 under -race) in
// an encrypted store with namespaces, list channels, pending writes and
// forks, half anywhere in its data pages, half inside its plain-text
// metadata and checkpoint records.
func TestSpec14RandomFlipsInEncryptedStore(t *testing.T) {
	t.Parallel()
	key := ckpt.Key{ID: 9, Secret: sha256.Sum256([]byte("spec14"))}
	opts := ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key}}}
	dir := t.TempDir()
	path := filepath.Join(dir, "sealed.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync, Encryption: opts.Encryption})
	if err != nil {
		t.Fatal(err)
	}
	m := newSpec14Model(5)
	for i := range 2 {
		for _, ns := range []string{"", "tools"} {
			m.fillPut(t, s, fmt.Sprintf("sealed-%d", i), ns, 10)
		}
		m.fillSave(t, s, fmt.Sprintf("sealed-save-%d", i), 6)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for mk, mm := range m.markers {
		// Metadata and checkpoint records are not sealed (crypt.go: List's
		// filter reads them); values, list items and pending writes are.
		if mm.kind == spec14Meta || mm.kind == spec14Record {
			continue
		}
		if bytes.Contains(file, []byte(mk)) {
			t.Fatalf("marker %s (%v) stored in plain text in an encrypted store", mk, m.markers[mk].kind)
		}
	}
	n := 200
	if testing.Short() || raceEnabled {
		n = 50 // each flip reads the whole store back, 5x slower under -race
	}
	// Metadata and checkpoint records are plain text (above): targets.
	var targets []string
	for mk, mm := range m.markers {
		if mm.kind == spec14Meta || mm.kind == spec14Record {
			targets = append(targets, mk)
		}
	}
	spec14FlipAnywhere(t, path, opts, n, 1, targets)
}

// TestSpec14RandomFlipsInUpgradedFormat2Store: the format-2 file of
// testdata upgraded in place (its records now checksummed), a thread
// added, then 100 flips (30 under -race), half anywhere in its data
// pages, half inside the added thread's records.
func TestSpec14RandomFlipsInUpgradedFormat2Store(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.ckpt")
	copyFile(t, filepath.Join("testdata", "format2", "store.ckpt"), path)
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	m := newSpec14Model(6)
	m.fillPut(t, s, "after-upgrade", "ns", 9)
	rep, err := s.Verify(context.Background(), ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify of the upgraded file: %v %v", rep.Problems, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := 100
	if testing.Short() || raceEnabled {
		n = 30
	}
	var targets []string
	for mk := range m.markers {
		targets = append(targets, mk)
	}
	spec14FlipAnywhere(t, path, ckpt.Options{}, n, 2, targets)
}
