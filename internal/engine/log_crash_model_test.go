package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLogCrashModelNeverRefusedNorLosesADurableGroup drives a Log as the
// commit loop does (NoSync and Sync appends, the syncer's fsync, a proof
// after each fsync that caught up, rewinds with ClearHead) and takes crash
// images: every 512-byte sector written since the last completed fsync
// kept or lost at random. A crash alone must never be refused, nor lose a
// group durable before it. From the review of log version 5 (padded
// proofs and their second copy a block on). 20 seeds in the suite;
// CKPT_LOG_MODEL_SEEDS for more (300: about 20 s, 3 min under -race).
func TestLogCrashModelNeverRefusedNorLosesADurableGroup(t *testing.T) {
	t.Parallel()
	seeds := 20
	if n, err := strconv.Atoi(os.Getenv("CKPT_LOG_MODEL_SEEDS")); err == nil && n > 0 {
		seeds = n
	}
	for seed := range seeds {
		logCrashModel(t, uint64(seed))
	}
}

func logCrashModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 116))
	path := filepath.Join(t.TempDir(), "m.db-wal")
	var synced []byte
	var syncedGen uint64
	var written uint64
	snap := func(f *os.File) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		synced = data
		syncedGen = written
		return nil
	}
	l, err := CreateLog(path, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	synced, _ = os.ReadFile(path)
	l.grow = 16 << 10
	var durable, proven, applied uint64
	rewound := false
	appendOne := func() {
		gen := written + 1
		if rewound {
			rewound = false
			if err := l.ClearHead(); err != nil {
				t.Fatal(err)
			}
		}
		v := strings.Repeat("v", rng.IntN(5000))
		if rng.IntN(3) == 0 {
			v = strings.Repeat("v", rng.IntN(200))
		}
		m := Mutation{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte(fmt.Sprint("k", gen)), Val: []byte(v)}
		if _, err := l.Append(gen, durable, []Mutation{m}); err != nil {
			t.Fatal(err)
		}
		written = gen
	}
	syncAndVouch := func() {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		durable = written
		if proven < written {
			if err := l.AppendProof(written); err != nil {
				t.Fatal(err)
			}
			proven = written
		}
	}
	check := func(step int) {
		cur, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 4; k++ {
			img := bytes.Clone(cur)
			for s := 0; s < len(img); s += 512 {
				e := min(s+512, len(img))
				var old []byte
				if s < len(synced) {
					old = synced[s:min(e, len(synced))]
				}
				if bytes.Equal(img[s:e], old) && len(old) == e-s {
					continue
				}
				if rng.IntN(2) == 0 {
					clear(img[s:e])
					copy(img[s:e], old)
				}
			}
			sc, err := scanLog(path, img, applied, LogBinding{})
			if err != nil {
				t.Fatalf("seed %d step %d: scan: %v", seed, step, err)
			}
			if sc.Damage != nil {
				t.Fatalf("seed %d step %d image %d: a crash image refused: %v (applied %d, durable by fsync %d, written %d)",
					seed, step, k, sc.Damage.Err(path), applied, syncedGen, written)
			}
			last := applied
			for _, g := range sc.Groups {
				if g.Gen != last+1 || string(g.Muts[0].Key) != fmt.Sprint("k", g.Gen) {
					t.Fatalf("seed %d step %d: group %d (%s) after %d", seed, step, g.Gen, g.Muts[0].Key, last)
				}
				last = g.Gen
			}
			if last < syncedGen {
				t.Fatalf("seed %d step %d image %d: groups up to %d read, %d were fsync'd (applied %d, written %d; cut %+v)",
					seed, step, k, last, syncedGen, applied, written, sc.Cut)
			}
		}
	}
	for step := 0; step < 120; step++ {
		switch r := rng.IntN(10); {
		case r < 4: // a NoSync group
			appendOne()
		case r < 6: // a Sync group: written once every record before it is durable
			if durable < written {
				syncAndVouch()
			}
			appendOne()
			syncAndVouch()
		case r < 7:
			syncAndVouch()
		case r < 8: // bbolt takes what is durable
			if durable > applied {
				applied = applied + 1 + uint64(rng.IntN(int(durable-applied)))
			}
		default: // bbolt holds all: rewind
			if durable == written && written > applied {
				applied = written
			}
			if applied == written && proven == written {
				l.Rewind()
				rewound = true
			}
		}
		check(step)
	}
}
