package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH34RevDamageWithTheApplierRunning is TestDamageToARecordNeverLoses-
// ADurableWriteSilently with the applier running (the other tests hold it,
// so bbolt's mark stays 0 and the log never rewinds): one writer, random
// ops (Sync, NoSync, Async, Flush, small groups cut at the record limit),
// the applier's commits let through or held at random (bbolt's mark lags
// the log by a varying amount; the log rewinds when it catches up). At
// random moments (the applier held, no op in flight) the files are
// copied, and records of the copy's log but its last (the first, the
// last few, a sample between) are damaged in turn: Open refuses (ErrCorrupt), or reads every write acknowledged as
// durable by then.
func TestH34RevDamageWithTheApplierRunning(t *testing.T) {
	t.Parallel()
	// Two seeds under -race (~1,800 Opens of damaged copies took three
	// minutes there with four), four without; CKPT_H34_SEEDS for more.
	seeds := uint64(4)
	if raceEnabled {
		seeds = 2
	}
	if n, err := strconv.ParseUint(os.Getenv("CKPT_H34_SEEDS"), 10, 64); err == nil && n > 0 {
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { damageWithApplier(t, seed) })
	}
}

func damageWithApplier(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 34))
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var gate sync.Mutex // held: the applier's commits wait
	e, opts := vouchOpen(t, path, Hooks{MaxRecordBody: 700, LogGrow: 8192, CommitBolt: func(tx *bolt.Tx) error {
		gate.Lock()
		defer gate.Unlock()
		return tx.Commit()
	}})
	held := false
	durable := map[string]string{}
	pending := map[string]string{}
	type image struct {
		files   map[string][]byte
		durable map[string]string
		recs    []logRecord
	}
	var images []image
	for i := range 400 {
		if rng.IntN(8) == 0 {
			if held {
				gate.Unlock()
			} else {
				gate.Lock()
			}
			held = !held
		}
		k := fmt.Sprintf("k%03d", i)
		v := fmt.Sprintf("%s=%0*d", k, 30+rng.IntN(300), i)
		switch m := rng.IntN(10); {
		case m < 3: // Sync
			if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}); err != nil {
				t.Fatal(err)
			}
			durable[k] = v
		case m < 6: // NoSync
			if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}); err != nil {
				t.Fatal(err)
			}
			pending[k] = v
		case m < 8: // Async NoSync, then a NoSync op waited for (the Async one is logged by then)
			if err := e.Send(context.Background(), &Op{Ctx: context.Background(), NoSync: rng.IntN(2) == 0,
				Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}); err != nil {
				t.Fatal(err)
			}
			pending[k] = v
			if err := do(e, &Op{NoSync: true, Apply: func(Writer) error { return nil }}); err != nil {
				t.Fatal(err)
			}
		default: // Flush
			if err := e.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			for pk, pv := range pending {
				durable[pk] = pv
			}
			clear(pending)
		}
		if rng.IntN(12) == 0 {
			if !held {
				gate.Lock()
			}
			img := image{files: map[string][]byte{}, durable: map[string]string{}}
			for _, s := range []string{"", "-wal"} {
				data, err := os.ReadFile(path + s)
				if err != nil {
					t.Fatal(err)
				}
				img.files[s] = data
			}
			for dk, dv := range durable {
				img.durable[dk] = dv
			}
			img.recs = logRecords(t, path+"-wal")
			images = append(images, img)
			if !held {
				gate.Unlock()
			}
		}
	}
	if held {
		gate.Unlock()
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	refused, opened, tried := 0, 0, 0
	for n, img := range images {
		if len(img.recs) < 2 {
			continue
		}
		for i, r := range img.recs[:len(img.recs)-1] {
			// The first record, the last few, and a sample between (an
			// Open per damaged record is what the test costs).
			if i != 0 && i < len(img.recs)-4 && rng.IntN(len(img.recs)) >= 8 {
				continue
			}
			tried++
			cp := filepath.Join(dir, fmt.Sprint("img", n, "-", i), "v.db")
			if err := os.MkdirAll(filepath.Dir(cp), 0o700); err != nil {
				t.Fatal(err)
			}
			for s, data := range img.files {
				if s == "-wal" {
					data = append([]byte(nil), data...)
					clear(data[r.off+recHeader : r.off+recHeader+min(8, r.size-recHeader)])
				}
				if err := os.WriteFile(cp+s, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o := opts
			o.LogPath, o.Hooks = cp+"-wal", Hooks{}
			o.Bolt.Timeout = time.Minute
			d, err := Open(cp, o)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("image %d, record %d (group %d) damaged: Open: %v, want ErrCorrupt", n, i, r.gen, err)
				}
				refused++
				continue
			}
			opened++
			missing := 0
			var one string
			for k, v := range img.durable {
				if got := readKey(t, d, k); got != v {
					missing++
					one = k
				}
			}
			if missing > 0 {
				t.Errorf("image %d: record %d of %d (group %d, lag %d) damaged: Open succeeded, but %d writes acknowledged as durable are missing (%s); records: %s",
					n, i, len(img.recs), r.gen, r.gen-r.durable, missing, one, recsString(img.recs))
			}
			if err := d.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Logf("%d images, %d damaged records: %d refused, %d opened", len(images), tried, refused, opened)
}

func recsString(recs []logRecord) string {
	s := ""
	for _, r := range recs {
		s += fmt.Sprintf("%d/%d ", r.gen, r.durable)
	}
	return s
}
