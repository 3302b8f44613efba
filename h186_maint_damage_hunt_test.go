package ckpt

// Helper-186's hunt: every maintenance and write path that deletes or
// rewrites, run over one flipped bit, deletes nothing it must keep. The
// twenty-ninth session's hunt (h29_gc_damage_hunt_test.go) did it for GC
// KeepLast; here the bit lands on any tree page of the file (branch pages
// with their keys and page ids, leaves of every bucket, pages of threads
// the call does not touch, headers), flipped under an open store
// (openThenDamage), and the calls are GC with KeepLast, MaxAge and
// ThreadTTL, DeleteThread, Prune (both strategies), DeleteForRuns,
// CopyThread then GC, CopyThread with Replace, Compact, Import (over an
// existing thread and of a new one), PutFull and Save, in a WAL and a
// NoWAL store. The oracle, from the clean model: whatever the call returns
// (nil or ErrCorrupt, or the call's own refusal), every key the call must
// keep whose path does not hold the flipped page is still in the file with
// its bytes (h186_boltwalk_test.go reads them), every checkpoint it keeps
// whose keys do not lie there reads exactly after Close and a read-only
// reopen, a write that returned nil reads back and one that returned an
// error is not there.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

type h186CP struct {
	id     [idLen]byte
	i      int
	vx, vy string
	run    string
}

// h186Model is, per thread and namespace, the checkpoints oldest first.
type h186Model map[[2]string][]h186CP

var (
	h186Threads = []string{"t0", "t1", "t2"}
	h186NSs     = []string{"", "a", "b"}
)

// h186Build writes the store: histories like h29Build's, with ids an hour
// apart (the newest 30 minutes old; thread t2 30 days older), so MaxAge
// and ThreadTTL select by the model, and a run_id in every metadata.
func h186Build(t *testing.T, path string, rng *rand.Rand) h186Model {
	t.Helper()
	s, err := Open(path, Options{NoWAL: true, Durability: NoSync}) // one bbolt transaction a put: the same pages every run
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := h186Model{}
	for _, th := range h186Threads {
		base := now
		if th == "t2" {
			base = now.Add(-30 * 24 * time.Hour)
		}
		for _, ns := range h186NSs {
			m[[2]string{th, ns}] = h186Stream(t, s, th, ns, 15+rng.IntN(25), base)
		}
	}
	// Compacted: bbolt spills a transaction's buckets in map order, so
	// the pages the puts left differ run to run; a compacted file's do
	// not (a case's flip lands on the same page).
	if _, err := s.Compact(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

// h186Stream writes n checkpoints of thread th, namespace ns, the newest
// 30 minutes before base, an hour apart: x changes every step, y every
// fifth, pending writes on every third.
func h186Stream(t *testing.T, s *Store, th, ns string, n int, base time.Time) []h186CP {
	t.Helper()
	// Seeded ids (the time is the model's, the entropy from the thread's
	// and namespace's names), so a case's flip lands on the same bits.
	seed := uint64(len(th))<<32 | uint64(len(ns))
	for _, b := range []byte(th + "/" + ns) {
		seed = seed*131 + uint64(b)
	}
	entropy := rand.NewChaCha8([32]byte(append(binary.BigEndian.AppendUint64(nil, seed), make([]byte, 24)...)))
	parent := ""
	var out []h186CP
	for i := range n {
		u, err := ulid.New(ulid.Timestamp(base.Add(-time.Duration(n-1-i)*time.Hour-30*time.Minute)), entropy)
		if err != nil {
			t.Fatal(err)
		}
		id := [idLen]byte(u)
		c := h186CP{id: id, i: i, vx: fmt.Sprintf("x%06d", i), vy: fmt.Sprintf("y%06d", i/5), run: "r" + strconv.Itoa(i%4)}
		nv := map[string]string{"x": c.vx}
		vals := map[string]any{"x": h186X(th, ns, i)}
		if i%5 == 0 {
			nv["y"] = c.vy
			vals["y"] = h186Y(th, ns, i)
		}
		var writes []TaskWrites
		if i%3 == 0 {
			writes = []TaskWrites{{TaskID: "task" + strconv.Itoa(i), Writes: []Write{{Channel: "x", Value: i}}}}
		}
		cfg, err := s.PutFull(context.Background(), Config{ThreadID: th, CheckpointNS: ns, CheckpointID: parent},
			Checkpoint{ID: idString(id), ChannelValues: vals, ChannelVersions: map[string]string{"x": c.vx, "y": c.vy}},
			Metadata{"step": i, "run_id": c.run}, nv, writes)
		if err != nil {
			t.Fatal(err)
		}
		parent = cfg.CheckpointID
		out = append(out, c)
	}
	return out
}

func h186X(th, ns string, i int) string { return fmt.Sprint(th, ns, i) }
func h186Y(th, ns string, i int) string { return fmt.Sprint("y", th, ns, 5*(i/5)) }

// h186Read says whether checkpoint c of thread src, namespace ns, reads
// exactly from thread th of s.
func h186Read(ctx context.Context, s *Store, th, src, ns string, c h186CP) error {
	tup, err := s.GetTuple(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: idString(c.id)})
	if err != nil {
		return err
	}
	var x, y string
	if err := tup.Decode("x", &x); err != nil {
		return err
	}
	if err := tup.Decode("y", &y); err != nil {
		return err
	}
	wantW := 0
	if c.i%3 == 0 {
		wantW = 1
	}
	if x != h186X(src, ns, c.i) || y != h186Y(src, ns, c.i) || len(tup.PendingWrites) != wantW {
		return fmt.Errorf("reads x=%q y=%q %d writes, want %q %q %d", x, y, len(tup.PendingWrites), h186X(src, ns, c.i), h186Y(src, ns, c.i), wantW)
	}
	return nil
}

// h186Call is one call of the hunt. keep says, for a thread in targets,
// which checkpoints the call keeps (err is what it returned); a thread not
// in targets must be as before, every key. post checks, on the store
// reopened read-only, what the call wrote.
type h186Call struct {
	name    string
	targets map[string]bool
	keep    func(err error, th, ns string, j, n int, c h186CP) bool
	run     func(ctx context.Context, s *Store) error
	ok      func(err error) bool
	post    func(ctx context.Context, ro *Store, err error, before, after *bwFile, excl map[h186Owner]bool) error
	// write: a single write (PutFull, Save), which runs no page walk
	// first; run only when asked for (see TestH186WriteThroughFlippedPageID).
	write bool
}

func h186Set(ths ...string) map[string]bool {
	m := map[string]bool{}
	for _, th := range ths {
		m[th] = true
	}
	return m
}

func h186NilOrCorrupt(err error) bool { return err == nil || errors.Is(err, ErrCorrupt) }

// h186Keys maps each leaf key of the clean file that belongs to a
// checkpoint of the model (its records, pending writes, order and index
// entries, the values it names, its thread's and namespace's directory
// entries) to the checkpoints it belongs to.
type h186Owner struct {
	th, ns string
	j      int
}

func h186Owners(c *bwFile, m h186Model) map[string][]h186Owner {
	byID := map[[idLen]byte]h186Owner{}
	blobs := map[string][]h186Owner{}
	for k, cps := range m {
		for j, cp := range cps {
			o := h186Owner{k[0], k[1], j}
			byID[cp.id] = o
			for _, bk := range [][]byte{blobKey(k[1], "x", cp.vx), blobKey(k[1], "y", cp.vy)} {
				key := bwJoin([]string{string(bucketThreads), k[0], string(bucketBlobs), string(bk)})
				blobs[key] = append(blobs[key], o)
			}
		}
	}
	out := map[string][]h186Owner{}
	for key, e := range c.entries {
		if e.bucket {
			continue
		}
		p := e.path
		k := []byte(p[len(p)-1])
		switch {
		case len(p) == 4 && p[0] == string(bucketThreads):
			var id [idLen]byte
			var err error
			switch p[2] {
			case string(bucketCheckpoints), string(bucketMetadata):
				_, id, err = parseCheckpointKey(k)
			case string(bucketWrites):
				_, id, _, _, err = parseFullWriteKey(k)
			case string(bucketOrder):
				id, _, err = parseOrderKey(k)
			case string(bucketBlobs):
				out[key] = blobs[key]
				continue
			default:
				continue
			}
			if o, ok := byID[id]; ok && err == nil && o.th == p[1] {
				out[key] = []h186Owner{o}
			}
		case len(p) == 2 && p[0] == string(bucketIndex):
			if id, th, _, err := parseIndexKey(k); err == nil {
				if o, ok := byID[id]; ok && o.th == th {
					out[key] = []h186Owner{o}
				}
			}
		case len(p) == 2 && p[0] == string(bucketDir):
			th, ns, isNS, ok := parseDirKey(k)
			if !ok {
				continue
			}
			for kk, cps := range m {
				if kk[0] == th && (!isNS || kk[1] == ns) {
					for j := range cps {
						out[key] = append(out[key], h186Owner{kk[0], kk[1], j})
					}
				}
			}
		}
	}
	return out
}

// h186Kept says whether the call keeps the checkpoint o.
func h186Kept(call *h186Call, err error, m h186Model, o h186Owner) bool {
	if !call.targets[o.th] {
		return true
	}
	cps := m[[2]string{o.th, o.ns}]
	return call.keep(err, o.th, o.ns, o.j, len(cps), cps[o.j])
}

// h186Check compares the file after the call with the clean file: every
// key the call keeps (of a thread it does not target: every key of it)
// that does not lie under the flipped page is there with its bytes.
func h186Check(call *h186Call, err error, m h186Model, clean, after *bwFile, owners map[string][]h186Owner, flipped int) []string {
	var bad []string
	for key, e := range clean.entries {
		if flipped >= 0 && e.under(flipped) {
			continue
		}
		p := e.path
		must := false
		if ow, ok := owners[key]; ok {
			for _, o := range ow {
				if h186Kept(call, err, m, o) {
					must = true
					break
				}
			}
		} else if len(p) >= 2 && p[0] == string(bucketThreads) && h186IsModel(p[1]) && !call.targets[p[1]] {
			must = true // an untouched thread: every key and bucket
		}
		if !must {
			continue
		}
		a, ok := after.entries[key]
		switch {
		case !ok:
			bad = append(bad, "lost "+key)
		case a.bucket != e.bucket || !bytes.Equal(a.val, e.val):
			bad = append(bad, "changed "+key)
		}
	}
	sort.Strings(bad)
	return bad
}

func h186IsModel(th string) bool {
	for _, t := range h186Threads {
		if t == th {
			return true
		}
	}
	return false
}

// h186Excluded says which checkpoints have a key under the flipped page:
// damage alone may keep them from reading.
func h186Excluded(clean *bwFile, owners map[string][]h186Owner, flipped int) map[h186Owner]bool {
	out := map[h186Owner]bool{}
	if flipped < 0 {
		return out
	}
	for key, ow := range owners {
		if clean.entries[key].under(flipped) {
			for _, o := range ow {
				out[o] = true
			}
		}
	}
	return out
}
