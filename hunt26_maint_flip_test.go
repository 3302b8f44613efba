package ckpt_test

// Maintenance on a damaged store (h26-hunt): one byte flipped at a random
// offset of a closed store, then a maintenance operation runs on the copy
// (Compact, BackupFile, CopyThread, GC, Prune, DeleteThread, Rekey, an
// Export imported into a new file). Whatever the operation does with the
// damage, it must not launder it: every read of the result is exact or an
// error, never a checkpoint that was never written or a wrong value, and a
// checkpoint the operation had to keep that is gone or refused shows in
// the result's Verify. (The flip tests of spec14 read damaged files; none
// ran maintenance on one and then read what it wrote.)
// CKPT_HUNT_FLIPS sets how many flips each test draws, CKPT_HUNT_SEED
// another stream of them (the default 26 is CI's).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// huntMaintOp is one maintenance operation run on a store: do runs it on
// the store at path (opened read-write unless it opens the file itself)
// and returns the path of the file whose reads are checked.
type huntMaintOp struct {
	name string
	do   func(ctx context.Context, path string, opts ckpt.Options) (string, error)
}

var huntMaintOps = []huntMaintOp{
	{"compact", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		return path, huntWithStore(path, opts, func(s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
	}},
	{"backup", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		opts.ReadOnly = true
		return path + ".bak", huntWithStore(path, opts, func(s *ckpt.Store) error { return s.BackupFile(ctx, path+".bak") })
	}},
	{"copythread", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		return path, huntWithStore(path, opts, func(s *ckpt.Store) error {
			for _, th := range []string{"put-0", "save-1"} {
				if err := s.CopyThread(ctx, th, "copy-"+th, ckpt.CopyOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
	}},
	{"gc", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		return path, huntWithStore(path, opts, func(s *ckpt.Store) error { _, err := s.GC(ctx, ckpt.Policy{KeepLast: 4}); return err })
	}},
	{"prune", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		return path, huntWithStore(path, opts, func(s *ckpt.Store) error {
			return s.Prune(ctx, []string{"put-1", "save-2"}, ckpt.PruneKeepLatest)
		})
	}},
	{"delete", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		return path, huntWithStore(path, opts, func(s *ckpt.Store) error { return s.DeleteThread(ctx, "put-2") })
	}},
	{"export-import", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		var dump bytes.Buffer
		ro := opts
		ro.ReadOnly = true
		if err := huntWithStore(path, ro, func(s *ckpt.Store) error { _, err := s.Export(ctx, &dump, ckpt.ExportOptions{}); return err }); err != nil {
			return "", err
		}
		dst := path + ".imported"
		return dst, huntWithStore(dst, opts, func(s *ckpt.Store) error { _, err := s.Import(ctx, &dump, ckpt.ImportOptions{}); return err })
	}},
}

func huntWithStore(path string, opts ckpt.Options, fn func(s *ckpt.Store) error) error {
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return err
	}
	err = fn(s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// huntReadAll reads the whole store at path with List.
func huntReadAll(t *testing.T, path string, opts ckpt.Options) spec14Reading {
	t.Helper()
	opts.ReadOnly = true
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return spec14Read(t, s)
}

// huntCheckResult reads the file at path, the result of a maintenance
// operation on a damaged store: must is what the operation gives on the
// undamaged store, allowed what may also read back (the store before
// it). A read of anything else is a wrong value; a checkpoint of must
// that is refused, gone or incomplete must show in Verify. It returns
// whether anything was refused or missing.
func huntCheckResult(t *testing.T, what, path string, opts ckpt.Options, must, allowed spec14Reading) bool {
	t.Helper()
	ctx := context.Background()
	opts.ReadOnly = true
	s, err := ckpt.Open(path, opts)
	if err != nil {
		return true
	}
	defer s.Close()
	bad := 0
	var first []string
	note := func(format string, a ...any) {
		bad++
		if len(first) < 3 {
			first = append(first, fmt.Sprintf(format, a...))
		}
	}
	same := func(how string, tp *ckpt.Tuple) {
		t.Helper()
		k := spec14TupleKey(tp.Config)
		w, ok := must[k]
		if !ok {
			w, ok = allowed[k]
		}
		if !ok {
			t.Fatalf("%s: %s reads a checkpoint that was never written: %+v", what, how, tp.Config)
		}
		got := spec14Parts(tp)
		if strings.Join(got, "|") == w {
			return
		}
		wantParts := strings.Split(w, "|")
		for _, g := range got {
			if !slices.Contains(wantParts, g) {
				t.Fatalf("%s: %s reads a wrong value for %+v: %.300s\nwritten:\n%.1500s", what, how, tp.Config, g, w)
			}
		}
		note("%s: %+v incomplete", how, tp.Config)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range must {
			if !yield(k) {
				return
			}
		}
	})
	threads := map[string]bool{}
	rd := s.NewReader()
	for _, k := range keys {
		p := strings.Split(k, "\x00")
		cfg := ckpt.Config{ThreadID: p[0], CheckpointNS: p[1], CheckpointID: p[2]}
		threads[cfg.ThreadID] = true
		for how, get := range map[string]func(context.Context, ckpt.Config) (*ckpt.Tuple, error){"GetTuple": s.GetTuple, "Reader": rd.GetTuple} {
			tp, err := get(ctx, cfg)
			if err != nil {
				note("%s %+v: %v", how, cfg, err)
				continue
			}
			same(how, tp)
		}
	}
	n := 0
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			note("List: %v", err)
			break
		}
		n++
		same("List", tp)
	}
	if bad == 0 && n != len(must) {
		// Everything of must read, and List saw more or fewer.
		if n < len(must) {
			note("List: %d checkpoints, %d must be there", n, len(must))
		}
	}
	for thread := range threads {
		for sn, err := range s.History(ctx, thread, ckpt.ListOptions{}) {
			if err != nil {
				note("History %s: %v", thread, err)
				break
			}
			k := spec14TupleKey(ckpt.Config{ThreadID: thread, CheckpointID: sn.CheckpointID})
			if must[k] == "" && allowed[k] == "" {
				t.Fatalf("%s: History of %s yields a checkpoint never written: %s", what, thread, sn.CheckpointID)
			}
		}
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil {
		t.Fatalf("%s: Verify could not run: %v", what, err)
	}
	if bad > 0 && rep.OK() {
		t.Fatalf("%s: %d reads refused or incomplete (%s), and Verify finds nothing wrong", what, bad, strings.Join(first, "; "))
	}
	return bad > 0
}

// huntMaintOnFlips flips one byte at a random offset past the meta pages
// of n copies of the closed store at path, and runs every op on each.
func huntMaintOnFlips(t *testing.T, path string, opts ckpt.Options, ops []huntMaintOp, n int, seed uint64) {
	t.Helper()
	huntMaintOnFlipsAt(t, path, opts, ops, n, seed, nil)
}

// huntStructure returns the offsets of a bbolt file's structure: every
// byte of its branch pages, and the page header and element headers of
// its leaf pages (flags, positions, key and value sizes).
func huntStructure(data []byte) []int {
	ps := os.Getpagesize()
	var offs []int
	for p := 2; (p+1)*ps <= len(data); p++ {
		b := data[p*ps:]
		flags := binary.LittleEndian.Uint16(b[8:])
		count := int(binary.LittleEndian.Uint16(b[10:]))
		overflow := int(binary.LittleEndian.Uint32(b[12:]))
		switch flags {
		case 0x01: // branch
			for i := range ps {
				offs = append(offs, p*ps+i)
			}
		case 0x02: // leaf
			for i := range 16 + 16*count {
				offs = append(offs, p*ps+i)
			}
		}
		p += overflow
	}
	return offs
}

// huntMaintOnFlipsAt is huntMaintOnFlips with the offsets to flip drawn
// from at (nil: anywhere past the meta pages).
func huntMaintOnFlipsAt(t *testing.T, path string, opts ckpt.Options, ops []huntMaintOp, n int, seed uint64, at func(data []byte) []int) {
	t.Helper()
	ctx := context.Background()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := huntReadAll(t, path, opts)
	dir := t.TempDir()
	// What each op gives on the undamaged store.
	musts := map[string]spec14Reading{}
	for _, op := range ops {
		p := filepath.Join(dir, "clean-"+op.name+".db")
		if err := os.WriteFile(p, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := op.do(ctx, p, opts)
		if err != nil {
			t.Fatalf("%s on the undamaged store: %v", op.name, err)
		}
		musts[op.name] = huntReadAll(t, res, opts)
	}
	allowed := func(name string) spec14Reading {
		a := spec14Reading{}
		for k, v := range want {
			a[k] = v
		}
		for k, v := range musts[name] {
			a[k] = v
		}
		return a
	}
	pageSize := os.Getpagesize()
	var offsets []int
	if at != nil {
		offsets = at(orig)
	}
	rng := rand.New(rand.NewPCG(seed, huntFlipSeed()))
	ran, failed, seen := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range n {
		b := bytes.Clone(orig)
		off := 2*pageSize + rng.IntN(len(orig)-2*pageSize)
		if offsets != nil {
			off = offsets[rng.IntN(len(offsets))]
		}
		b[off] ^= byte(1 + rng.IntN(255))
		for _, op := range ops {
			p := filepath.Join(dir, fmt.Sprintf("flip-%03d-%s.db", i, op.name))
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := op.do(ctx, p, opts)
			ran[op.name]++
			if err != nil {
				failed[op.name]++
			} else if huntCheckResult(t, fmt.Sprintf("flip %d (offset %d) then %s", i, off, op.name), res, opts, musts[op.name], allowed(op.name)) {
				seen[op.name]++
			}
			for _, f := range []string{p, p + "-wal", p + ".bak", p + ".imported", p + ".imported-wal"} {
				_ = os.Remove(f)
			}
		}
	}
	for _, op := range ops {
		t.Logf("%s: %d flips, %d refused by the op, %d results with damage Verify reports", op.name, ran[op.name], failed[op.name], seen[op.name])
	}
}

// huntFlipSeed is the second word of the flips' generator: 26, or
// CKPT_HUNT_SEED, so a wider run can draw other flips than CI's (each
// test keeps its own first word).
func huntFlipSeed() uint64 {
	if v, err := strconv.ParseUint(os.Getenv("CKPT_HUNT_SEED"), 10, 64); err == nil {
		return v
	}
	return 26
}

func huntFlipCount(def int) int {
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_FLIPS")); err == nil {
		return v
	}
	if testing.Short() || raceEnabled {
		return def / 4
	}
	return def
}

func TestHuntMaintenanceOnAFlippedStore(t *testing.T) {
	t.Parallel()
	path, _ := spec14Store(t, t.TempDir(), ckpt.Options{})
	huntMaintOnFlips(t, path, ckpt.Options{}, huntMaintOps, huntFlipCount(20), 261)
}

func TestHuntMaintenanceOnAFlippedEncryptedStore(t *testing.T) {
	t.Parallel()
	k1 := ckpt.Key{ID: 1, Secret: sha256.Sum256([]byte("hunt26 one"))}
	k2 := ckpt.Key{ID: 2, Secret: sha256.Sum256([]byte("hunt26 two"))}
	path, _ := spec14Store(t, t.TempDir(), ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{k1}}})
	opts := ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{k2, k1}}}
	ops := append([]huntMaintOp{{"rekey", func(ctx context.Context, path string, opts ckpt.Options) (string, error) {
		return path, huntWithStore(path, opts, func(s *ckpt.Store) error { _, err := s.Rekey(ctx); return err })
	}}}, huntMaintOps...)
	huntMaintOnFlips(t, path, opts, ops, huntFlipCount(12), 262)
}

// TestHuntMaintenanceOnAFlippedStoreStructure: the flips land in bbolt's
// structure (branch pages, leaf page and element headers), where a flip
// moves or hides records rather than changing one.
func TestHuntMaintenanceOnAFlippedStoreStructure(t *testing.T) {
	t.Parallel()
	path, _ := spec14Store(t, t.TempDir(), ckpt.Options{})
	huntMaintOnFlipsAt(t, path, ckpt.Options{}, huntMaintOps, huntFlipCount(20), 263, huntStructure)
}
