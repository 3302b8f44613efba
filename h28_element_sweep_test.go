package ckpt_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH28ElementHeaderSweep flips one bit of a leaf or branch element's
// header (its key position, key size, value size or flags: bbolt keeps no
// checksum of a page) in the store TestH164FlipSweep builds, then runs
// every write and maintenance call on it. Each either succeeds or fails
// with ErrCorrupt (ErrNotFound where a damaged key hides a record, for a
// Put naming it as parent); never with a panic the commit loop recovered
// ("write panicked": the store's own code took a damaged key's bytes on
// trust; bbolt's own panics are ErrCorrupt, under engine.Guard). The
// fault hunt of TestH164FlipThenMaintenance found one (a key two bytes
// short: GC's walk of the records that keep blobs live); this sweep aims
// every case at the element headers.
//
// The calls run with the write-ahead log: a group acknowledged and then
// refused when applied would fail every later Open's replay, so each copy
// is opened again after its calls.
//
// CKPT_H28_CASES cases from CKPT_H28_SEED (default 12 from 1, plain and
// sealed; each case runs every call on its own copy).
func TestH28ElementHeaderSweep(t *testing.T) {
	t.Parallel()
	key := ckpt.Key{ID: 7, Secret: sha256.Sum256([]byte("h28"))}
	for _, tc := range []struct {
		name string
		enc  *ckpt.Encryption
	}{{"plain", nil}, {"sealed", &ckpt.Encryption{Keys: []ckpt.Key{key}}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h28Sweep(t, tc.enc)
		})
	}
}

func h28Sweep(t *testing.T, enc *ckpt.Encryption) {
	ctx := context.Background()
	c := h164Setup(t, enc)
	pages, pageSize := h164Pages(t, c.path)
	var elems []int // file offsets of element headers
	orig, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if p.typ != "leaf" && p.typ != "branch" {
			continue
		}
		base := p.id * pageSize
		for i := range int(binary.LittleEndian.Uint16(orig[base+10:])) {
			elems = append(elems, base+16+16*i)
		}
	}
	n := h164Env("CKPT_H28_CASES", h164Default(12))
	seed0 := uint64(h164Env("CKPT_H28_SEED", 1))
	rw := ckpt.Options{Durability: ckpt.NoSync, Encryption: enc}
	var refused, ran int
	for i := range n {
		seed := seed0 + uint64(i)
		rng := rand.New(rand.NewPCG(seed, 28))
		e := elems[rng.IntN(len(elems))]
		// One of the element's 16 bytes; mostly the low bytes of its
		// fields, where a flip keeps the size plausible.
		off := e + 4*rng.IntN(4)
		if rng.IntN(4) == 0 {
			off = e + rng.IntN(16)
		}
		mask := byte(1) << rng.IntN(8)
		b := append([]byte(nil), orig...)
		b[off] ^= mask
		what := fmt.Sprintf("seed %d (page %d element +%d byte +%d ^%#x)", seed, e/pageSize, (e%pageSize-16)/16, off-e, mask)
		dp := filepath.Join(c.dir, fmt.Sprintf("elem-%d.db", seed))
		if err := os.WriteFile(dp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		check := func(call string, err error, alsoOK ...error) {
			t.Helper()
			if err == nil || errors.Is(err, ckpt.ErrCorrupt) && !strings.Contains(err.Error(), "panicked") {
				return
			}
			for _, ok := range alsoOK {
				if errors.Is(err, ok) {
					return
				}
			}
			t.Errorf("%s: %s: %v (not ErrCorrupt)", what, call, err)
		}
		for _, op := range h28Ops(c.heads) {
			p := dp + "-" + op.name
			copyFile(t, dp, p)
			s, err := ckpt.Open(p, rw)
			if err != nil {
				check("read-write Open", err, ckpt.ErrFormatVersion)
				refused++
				_ = os.Remove(p)
				continue
			}
			ran++
			op.run(ctx, s, p, check)
			check(op.name+": Close", s.Close())
			if s, err := ckpt.Open(p, rw); err != nil {
				if strings.Contains(err.Error(), "replay") {
					t.Errorf("%s: after %s, Open fails replaying the log: %v", what, op.name, err)
				}
			} else {
				_ = s.Close()
			}
			_ = os.Remove(p)
			_ = os.Remove(p + ".backup")
			_ = os.Remove(p + ".imported")
		}
		_ = os.Remove(dp)
	}
	t.Logf("%d cases over %d element headers: %d calls ran, %d copies refused by Open", n, len(elems), ran, refused)
}

type h28Op struct {
	name string
	run  func(ctx context.Context, s *ckpt.Store, path string, check func(call string, err error, alsoOK ...error))
}

// h28Ops are the calls each damaged copy gets, one copy each.
func h28Ops(heads []string) []h28Op {
	ops := []h28Op{
		{"writes", func(ctx context.Context, s *ckpt.Store, path string, check func(string, error, ...error)) {
			for _, h := range heads {
				p := strings.Split(h, "\x00")
				cfg := ckpt.Config{ThreadID: p[0], CheckpointNS: p[1]}
				tp, err := s.GetTuple(ctx, cfg)
				check("GetTuple "+h, err, ckpt.ErrNotFound)
				if err == nil {
					cfg = tp.Config
				}
				cp := ckpt.Checkpoint{ChannelValues: map[string]any{"x": 1}, ChannelVersions: map[string]string{"x": "h28"}}
				next, err := s.Put(ctx, cfg, cp, ckpt.Metadata{"step": 1}, map[string]string{"x": "h28"})
				check("Put "+h, err, ckpt.ErrNotFound)
				if err == nil {
					check("PutWrites "+h, s.PutWrites(ctx, next, []ckpt.Write{{Channel: "inbox", Value: "w"}}, "task", "path"))
				}
				_, err = s.Put(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), cfg, cp, nil, map[string]string{"x": "h28"})
				check("Put IfHead "+h, err, ckpt.ErrNotFound, ckpt.ErrConflict)
				if p[1] == "" {
					_, err = s.Save(ctx, p[0], map[string]any{"y": 2}, ckpt.Metadata{"step": 2})
					check("Save "+h, err)
					_, err = s.Branches(ctx, p[0])
					check("Branches "+h, err)
				}
			}
		}},
		{"delete", func(ctx context.Context, s *ckpt.Store, path string, check func(string, error, ...error)) {
			for _, th := range []string{"p0", "s0", "many-07"} {
				check("DeleteThread "+th, s.DeleteThread(ctx, th))
			}
		}},
		{"gc-dry", func(ctx context.Context, s *ckpt.Store, path string, check func(string, error, ...error)) {
			_, err := s.GC(ctx, ckpt.Policy{KeepLast: 1, DryRun: true})
			check("GC dry run", err)
		}},
	}
	for _, op := range h164Ops {
		name := strings.ReplaceAll(op.name, "+", "-")
		ops = append(ops, h28Op{name, func(ctx context.Context, s *ckpt.Store, path string, check func(string, error, ...error)) {
			_, err := op.run(ctx, s, path, nil)
			check(op.name, err)
		}})
	}
	return ops
}
