package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// h174NA checkpoints of namespace "a" put A last but one in its leaf page
// where a lookup of A still finds it (checked below).
const h174NA = 210

// TestGCKeepsTheNamespaceOfAKeyOutOfOrder: namespace "b" holds two
// checkpoints A and B, the last keys of the thread's cp/; a damaged byte
// moved B's key (still under b's prefix) below A's in its leaf page. GC
// with KeepLast 1 drops A, and asks lastOfNamespace whether A is b's only
// checkpoint, by a walk of b's prefix that ignored the scan's error. Since
// scans pass over a key that sorts before the one yielded last (3a78771),
// that walk counted A alone, and the drop took b's directory entry along:
// the namespace's remaining key was no longer listed, the directory wrong
// with no error. Before, the walk counted the damaged key and kept it.
// GC must refuse (ErrCorrupt) or leave the entry.
func TestGCKeepsTheNamespaceOfAKeyOutOfOrder(t *testing.T) {
	t.Parallel()
	for _, mode := range bothLogModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			gcKeepsNamespaceOfKeyOutOfOrder(t, mode.opts)
		})
	}
}

func gcKeepsNamespaceOfKeyOutOfOrder(t *testing.T, opts Options) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	put := func(ns string, n int) [][idLen]byte {
		t.Helper()
		var ids [][idLen]byte
		parent := ""
		for i := range n {
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: parent},
				Checkpoint{ChannelValues: map[string]any{"x": fmt.Sprint(ns, i)}, ChannelVersions: map[string]string{"x": fmt.Sprintf("v%06d", i)}},
				Metadata{"step": i}, map[string]string{"x": fmt.Sprintf("v%06d", i)})
			if err != nil {
				t.Fatal(err)
			}
			id, err := parseID("id", cfg.CheckpointID)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			parent = cfg.CheckpointID
		}
		return ids
	}
	// Enough checkpoints of "a" that cp/ has leaf pages of its own.
	put("a", h174NA)
	b := put("b", 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	keyA, keyB := checkpointKey("b", b[0]), checkpointKey("b", b[1])

	// Where B's key lies in the file.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var off int
	err = db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketCheckpoints)
		if bk == nil || bk.Root() == 0 {
			return errors.New("cp/ is missing or inline")
		}
		k, _ := bk.Cursor().Last()
		if !bytes.Equal(k, keyB) {
			return fmt.Errorf("last cp/ key %x, want B's %x", k, keyB)
		}
		off = int(uintptr(unsafe.Pointer(&k[0])) - db.Info().Data)
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[off:off+len(keyB)], keyB) {
		t.Fatalf("offset %d does not hold B's key", off)
	}
	orig := bytes.Clone(data)
	// B's id becomes one just below A's: under b's prefix, before A.
	moved := b[0]
	i := idLen - 1
	for moved[i] == 0 {
		i--
	}
	moved[i]--
	copy(data[off+len(keyB)-idLen:], moved[:])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// The layout the scenario needs: A is still found by its lookup
	// (GC drops a checkpoint it finds), and the walk of b meets A first.
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketCheckpoints)
		if bk.Get(keyA) == nil {
			return errors.New("A is not found by its lookup in the damaged page")
		}
		if k, _ := bk.Cursor().Seek(nsKey("b")); !bytes.Equal(k, keyA) {
			return fmt.Errorf("the walk of b starts at %x, want A's key", k)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	// The sound file back, opened, and damaged under the store.
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openThenDamage(t, path, opts, data)
	_, gcErr := s.GC(ctx, Policy{KeepLast: 1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if gcErr != nil && !errors.Is(gcErr, ErrCorrupt) {
		t.Fatalf("GC = %v, want nil or ErrCorrupt", gcErr)
	}
	t.Logf("GC: %v", gcErr)
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketCheckpoints)
		c := bk.Cursor()
		n := 0
		for k, _ := c.Seek(nsKey("b")); k != nil && bytes.HasPrefix(k, nsKey("b")); k, _ = c.Next() {
			n++
		}
		listed := tx.Bucket(bucketDir).Get(nsDirKey("t", "b")) != nil
		if n > 0 && !listed {
			return fmt.Errorf("GC (%v) left %d cp/ keys of namespace b and dropped b from the directory", gcErr, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
