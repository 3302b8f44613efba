//go:build linux

package engine

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestRevProofFullDiskFailsTheStore: the proof's room is "reserved with
// the record before it, so a full disk never stops it" (wal_writer.go,
// docs/durability.md). Not on a copy-on-write file system (btrfs, ZFS), where an
// overwrite of the growth's zeros takes new room (as
// TestARecordCutShortByAFullDiskNeverReadsBack models it: the zeros past
// the Sync write's record are a hole here, on a full tmpfs). The proof's
// write then fails with ErrDiskFull and vouch fails the whole store
// (FailLog), where a full disk fails one group alone and the store goes
// on once there is room (diskfull_goes_on_test.go): after the filler
// goes, the next write still gets ErrFailed.
func TestRevProofFullDiskFailsTheStore(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 1048576)
	const page = 4096
	path := filepath.Join(t.TempDir(), "v.db")
	logPath, filler := filepath.Join(mnt, "v.db-wal"), filepath.Join(mnt, "filler")
	var armed atomic.Bool
	var punchErr error
	hooks := Hooks{HoldApplier: true, LogGrow: 64 << 10, SyncLog: func(f *os.File) error {
		err := Fdatasync(f)
		if armed.CompareAndSwap(true, false) {
			// The Sync write's record is durable; the zeros after it lose
			// their room (copy-on-write), and the disk fills up.
			fi, serr := f.Stat()
			if serr != nil {
				punchErr = serr
				return err
			}
			g, oerr := os.OpenFile(logPath, os.O_RDWR, 0)
			if oerr != nil {
				punchErr = oerr
				return err
			}
			punchErr = syscall.Fallocate(int(g.Fd()), 0x01|0x02, 2*page, fi.Size()-2*page) // KEEP_SIZE|PUNCH_HOLE
			_ = g.Close()
			if punchErr == nil {
				punchErr = h32Fill(filler, 0)
			}
		}
		return err
	}}
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: logPath,
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{}, Hooks: hooks}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	put := func(k string, n int) error {
		v := []byte(strings.Repeat("v", n))
		return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), v) }})
	}
	if err := put("w", 200); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	all := logRecords(t, logPath)
	if recs := oneProofEach(all); len(recs) != 2 || !recs[1].proof {
		t.Fatalf("records %+v, want w's and its proof", recs)
	}
	next := all[len(all)-1].off + all[len(all)-1].size
	body := int(binary.BigEndian.Uint32(data[all[0].off:])) // w's record's body length
	// b's record ends at 2*page: its proof goes to the first page past it.
	n := 200 + (2*page - next - recHeader) - body
	if n < 128 || n > 16383 {
		t.Fatalf("value length %d: its length's uvarint differs from w's", n)
	}
	armed.Store(true)
	if err := put("b", n); err != nil {
		t.Fatalf("b: %v", err)
	}
	if punchErr != nil {
		t.Skipf("punch a hole / fill the disk: %v", punchErr)
	}
	if r := lastDataRecord(t, logPath); r.off+r.size != 2*page {
		t.Fatalf("b's record ends at %d, want %d", r.off+r.size, 2*page)
	}
	failed := e.fs.Failed()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := put("c", 10); err != nil || failed != nil {
		t.Fatalf("a full disk at the proof after b: the store failed (%v); a write once there is room again: %v; want the store to go on", failed, err)
	}
}
