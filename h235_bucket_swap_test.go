package ckpt

// H235: a thread's bucket header damaged so that its metadata bucket
// names the root page of its checkpoints bucket (one pointer of the
// thread's own page). Every key of md is then a key of cp, and each
// record's sum (over thread, key and bytes: record_sum.go) holds, as
// the sum does not name the bucket: Export wrote the checkpoint records
// as the metadata of themselves, a dump that Import refuses at the
// thread's first line (so an export --skip-damaged "of the good
// threads" saved none). The thread is damaged: Export must fail with
// ErrCorrupt, or with SkipDamaged leave it out and name it.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestH235MetadataBucketNamingTheCheckpointsIsDamagedInExport(t *testing.T) {
	t.Parallel()
	h235SwapRootCase(t, bucketMetadata, bucketCheckpoints)
}

// The other way round: cp names md's pages. A metadata record (a msgpack
// map) decoded as a checkpoint record (written as an array) read as an
// empty checkpoint: Thread summarised it, Export wrote every metadata
// record as a checkpoint too, and Import took that dump: a thread of
// empty checkpoints from a damaged one, without a word.
func TestH235CheckpointBucketNamingTheMetadataIsDamagedInExport(t *testing.T) {
	t.Parallel()
	h235SwapRootCase(t, bucketCheckpoints, bucketMetadata)
}

// h235SwapRootCase damages thread t1 of an h186 file: its bucket sub's
// header names the root page of its bucket as; Export must not write t1.
func h235SwapRootCase(t *testing.T, sub, as []byte) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "f.db")
	h186Build(t, path, rand.New(rand.NewPCG(1, 186)))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bwWalk(b)
	root := func(sub []byte) (at int, pg uint64) {
		e := w.entries[bwJoin([]string{string(bucketThreads), "t1", string(sub)})]
		if e == nil || !e.bucket || e.koff < 0 {
			t.Fatalf("no bucket entry threads/t1/%s in the walk", sub)
		}
		at = e.koff + e.klen // the bucket's header: its root page id first
		return at, binary.LittleEndian.Uint64(b[at:])
	}
	_, asRoot := root(as)
	subAt, subRoot := root(sub)
	if asRoot == 0 || subRoot == 0 {
		t.Fatalf("%s root %d, %s root %d: want both out of line", as, asRoot, sub, subRoot)
	}
	binary.LittleEndian.PutUint64(b[subAt:], asRoot)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer s.Close()
	var dump bytes.Buffer
	if _, err := s.Export(ctx, &dump, ExportOptions{Threads: []string{"t1"}}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Export of t1: %v, want ErrCorrupt (%d bytes written)", err, dump.Len())
	}
	dump.Reset()
	sum, err := s.Export(ctx, &dump, ExportOptions{SkipDamaged: true})
	if err != nil {
		t.Fatalf("Export SkipDamaged: %v", err)
	}
	if !slices.Equal(sum.Damaged, []string{"t1"}) {
		t.Errorf("Export SkipDamaged left out %v, want [t1]", sum.Damaged)
	}
	// What it wrote is whole: Import takes it.
	im, err := Open(filepath.Join(dir, "new.db"), Options{NoWAL: true, Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if _, err := im.Import(ctx, bytes.NewReader(dump.Bytes()), ImportOptions{}); err != nil {
		t.Errorf("Import of the SkipDamaged dump: %v", err)
	}
}
