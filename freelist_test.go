package ckpt

// A file whose last commit wrote no free list (bbolt's NoFreelistSync)
// makes bbolt rebuild the list when a write transaction first needs it
// (a read-write Open, a rolled-back write): DB.freepages walks every page
// on a goroutine of its own and panics at the first damaged one it
// reports, and the panic's unwinding closes the walk's transaction while
// the walker goes on reading through it. The walker then dies on a nil
// pointer (or waits for ever to report the next damage): no recover
// reaches a goroutine bbolt started, so a damaged key ended the process.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
	bolt "go.etcd.io/bbolt"
)

const freelistChildEnv = "CKPT_FREELIST_CHILD" // the file the child opens

// TestUnsyncedFreelistOnADamagedFileIsRefusedAndTheProcessLives: a store
// file last committed without its free list, with one checkpoint's keys
// out of their pages' order (read around, as gc_stale_order_test.go's
// files are), twice. A read-write Open refuses it with ErrCorrupt, a read-only
// Open that asks for the free list early (PreLoadFreelist) opens it, and
// the process lives on with no walker left behind; the file is
// unchanged. Run in a child: the defect ended the process.
func TestUnsyncedFreelistOnADamagedFileIsRefusedAndTheProcessLives(t *testing.T) {
	t.Parallel()
	if path := os.Getenv(freelistChildEnv); path != "" {
		freelistChild(t, path)
		return
	}
	path, ids, _ := closedChain(t, 20)
	dropFreelist(t, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !unsyncedFreelist(b) {
		t.Fatal("the newer meta page names a free list page: the fixture needs none")
	}
	// Two keys out of order in one page: bbolt's walker reports the
	// second after the first has ended the walk, and nobody hears it.
	for _, at := range []int{5, 15} {
		k := checkpointKey("", ids[at])
		n := 0
		for i := 0; ; i++ {
			j := bytes.Index(b[i:], k)
			if j < 0 {
				break
			}
			i += j
			b[i] = 0xff // sorts last, keeps its place in its page
			n++
		}
		if n == 0 {
			t.Fatalf("no key of checkpoint %d found in the file", at)
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testchild.Binary()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, bin, "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = childEnv(freelistChildEnv + "=" + path)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		lines := strings.SplitN(string(out), "\n", 41)
		t.Fatalf("child: %v\n%s", err, strings.Join(lines[:min(len(lines), 40)], "\n"))
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, b) {
		t.Error("the refused file changed")
	}
}

// dropFreelist commits to the file at path through bbolt without its
// free list (NoFreelistSync), as another program can.
func dropFreelist(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// unsyncedFreelist tells whether the meta page bbolt uses (the higher
// transaction id of the two) of file b says no free list was written.
func unsyncedFreelist(b []byte) bool {
	ps := int(binary.LittleEndian.Uint32(b[16+8:])) // meta page 0's page size
	if ps <= 0 || len(b) < 2*ps {
		return false
	}
	meta := func(i int) (txid, freelist uint64) {
		m := b[i*ps+16:]
		return binary.LittleEndian.Uint64(m[48:]), binary.LittleEndian.Uint64(m[32:])
	}
	tx0, fl0 := meta(0)
	tx1, fl1 := meta(1)
	if tx1 > tx0 {
		fl0 = fl1
	}
	return fl0 == ^uint64(0)
}

func freelistChild(t *testing.T, path string) {
	if s, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Errorf("read-write Open = %v, want ErrCorrupt", err)
	}
	noWalkerLeft(t, "the read-write Open")
	s, err := Open(path, Options{ReadOnly: true, Bolt: &bolt.Options{PreLoadFreelist: true}})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	noWalkerLeft(t, "the read-only Open")
	// bbolt's page check (Tx.Check) loads the free list of a read-only
	// handle first: the same walk.
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil || rep.OK() {
		t.Errorf("Verify = %v, %v: want the keys out of order reported", rep, err)
	}
	noWalkerLeft(t, "Verify")
	if err := s.Close(); err != nil {
		t.Errorf("read-only Close: %v", err)
	}
}

// TestUnsyncedFreelistOnASoundFileOpens: the same file undamaged opens
// read-write with every checkpoint, and leaves that Open with its free
// list written.
func TestUnsyncedFreelistOnASoundFileOpens(t *testing.T) {
	t.Parallel()
	path, ids, _ := closedChain(t, 20)
	dropFreelist(t, path)
	if b, err := os.ReadFile(path); err != nil || !unsyncedFreelist(b) {
		t.Fatalf("the fixture needs a file without its free list (%v)", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for tup, err := range s.List(context.Background(), ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		if want := idString(ids[len(ids)-1-n]); tup.Config.CheckpointID != want {
			t.Fatalf("checkpoint %d: %s, want %s", n, tup.Config.CheckpointID, want)
		}
		n++
	}
	if n != len(ids) {
		t.Fatalf("%d checkpoints, want %d", n, len(ids))
	}
	if rep, err := s.Verify(context.Background(), VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify = %v, %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || unsyncedFreelist(b) {
		t.Fatalf("after a read-write Open the file still has no free list (%v)", err)
	}
}

// noWalkerLeft fails t if a goroutine of bbolt's free list walk
// (DB.freepages) is still there after what: it either ends at once or
// never (blocked reporting damage nobody reads).
func noWalkerLeft(t *testing.T, what string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); ; {
		stacks := buf[:runtime.Stack(buf, true)]
		if !bytes.Contains(stacks, []byte("bbolt.(*DB).freepages")) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s, bbolt's free list walk is still running:\n%s", what, stacks)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoFreelistSyncIsRefused: the store writes the free list at every
// commit (see the test above for why); asked not to, Open says so and
// creates nothing; RecoverLog too, writing nothing.
func TestNoFreelistSyncIsRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Bolt: &bolt.Options{NoFreelistSync: true}})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "NoFreelistSync") {
		t.Fatalf("Open with NoFreelistSync = %v, want ErrInvalidConfig naming it", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused Open left a file: %v", err)
	}
	// Recovery takes the same options: it would commit the file without
	// its free list.
	path, _, b := closedChain(t, 3)
	if _, err := RecoverLog(path, Options{Bolt: &bolt.Options{NoFreelistSync: true}}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("RecoverLog with NoFreelistSync = %v, want ErrInvalidConfig", err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, b) {
		t.Errorf("the refused RecoverLog changed the file (%v)", err)
	}
}
