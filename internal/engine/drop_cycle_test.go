package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// dropCycleChildEnv names the file a child of
// TestDropBucketRefusesAPageCycle drops a bucket of.
const dropCycleChildEnv = "CKPT_ENGINE_DROP_CYCLE"

// TestDropBucketRefusesAPageCycle: a bucket whose branch page names
// itself as its last child (a page cycle, which writes on a damaged file
// can leave after the Open's page check passed: the h31-wdmg hunt, seed
// 51886, a branch key of a thread damaged, writes without the log, then
// DeleteThread ran past 256 MB in dropNested's walk) makes DropBucket
// ErrCorrupt, not a walk that goes round for ever. The damage is made
// under the open DB (its map shows the file), after OpenBolt's check; the
// drop runs in a child process, killed if it runs long or grows past
// 512 MB.
func TestDropBucketRefusesAPageCycle(t *testing.T) {
	if path := os.Getenv(dropCycleChildEnv); path != "" {
		os.Exit(dropCycleChild(path))
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cycle.db")
	out, err := runWatchedEnv(t, "^TestDropBucketRefusesAPageCycle$", dropCycleChildEnv+"="+path)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(out, "drop: corrupt: ") {
		t.Fatalf("want the drop to be ErrCorrupt, got:\n%s", out)
	}
}

// dropCycleChild writes a file with bucket "outer" holding 400 small
// buckets (its root a branch page), opens it, has the root's last
// element name the root, and drops outer in a write transaction. It
// prints what happened.
func dropCycleChild(path string) int {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Println("build:", err)
		return 1
	}
	err = db.Update(func(tx *bolt.Tx) error {
		outer, _ := tx.CreateBucket([]byte("outer"))
		for i := range 400 {
			sub, err := outer.CreateBucket(fmt.Appendf(nil, "sub-%03d", i))
			if err != nil {
				return err
			}
			_ = sub.Put([]byte("k"), []byte("v"))
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		fmt.Println("build:", err)
		return 1
	}
	src, f, err := OpenBolt(path, &bolt.Options{Timeout: time.Second})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer func() { _ = src.Close() }()
	var root uint64
	_ = src.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("outer")).Root())
		return nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Println("read:", err)
		return 1
	}
	ps := uint64(os.Getpagesize())
	pg := data[root*ps:]
	flags, count := binary.LittleEndian.Uint16(pg[8:]), int(binary.LittleEndian.Uint16(pg[10:]))
	if flags != 0x01 || count < 2 {
		fmt.Printf("outer's root %d is not a branch page (flags %#x, %d elements)\n", root, flags, count)
		return 1
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], root)
	if _, err := f.WriteAt(b[:], int64(root*ps)+pageHeaderSize+int64(count-1)*elemSize+8); err != nil {
		fmt.Println("damage:", err)
		return 1
	}
	err = Guard("drop", func() error {
		return src.Update(func(tx *bolt.Tx) error { return NewBoltView(tx).DropBucket(Path{[]byte("outer")}) })
	})
	switch {
	case errors.Is(err, ErrCorrupt):
		fmt.Println("drop: corrupt:", err)
	default:
		fmt.Println("drop:", err)
	}
	return 0
}
