package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// h33 review: a Sync write is acknowledged once an fsync covering its
// record (and every record before it) has ended. When its record was
// written before the records ahead of it were fsync'd (a NoSync group
// ahead of it: lag 2), and it is the last record, media damage to the
// record ahead of it (after the fsync ended: no power cut involved) reads
// as a torn tail under version 3: Open drops both groups without an
// error, the Sync-acknowledged write among them. Version 2 refused it
// (ErrCorrupt).
func TestH33RevDamageBeforeAnAcknowledgedSyncRecordIsNotATornTail(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprint("flush=", flush), func(t *testing.T) { h33RevDamage(t, flush) })
	}
}

// h33RevDamage: with flush, a and b are both NoSync and a Flush (which
// returns once they are durable) follows; else b is a Sync write.
func h33RevDamage(t *testing.T, flush bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.db")
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal", Mark: mark,
		Observer: nopObserver{}, Hooks: Hooks{HoldApplier: true}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string, noSync bool) {
		t.Helper()
		if err := do(e, &Op{NoSync: noSync, Apply: func(w Writer) error {
			return w.Put(testBucket, []byte(k), []byte(fmt.Sprint("value of ", k, " ................................")))
		}}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", true)  // group 1: NoSync, written, not fsync'd
	put("b", flush) // group 2: Sync; its record says durable up to 0 (lag 2); acknowledged after the fsync of 1-2
	if flush {
		if err := e.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Everything acknowledged is durable now. The files as a power cut
	// would leave them later (nothing in flight), then group 1's record
	// damaged on the medium.
	cp := crashCopyFiles(t, path, filepath.Join(dir, "img"), func(s string, data []byte) {
		if s != "-wal" {
			return
		}
		sc, err := scanLog(path+s, data, 0, LogBinding{})
		if err != nil || len(sc.Groups) < 2 {
			t.Fatalf("log before the damage: %v, %v", sc, err)
		}
		r, ok := parseRecord(data, logHeader, logID(data), logVersion)
		if !ok || r.gen != 1 {
			t.Fatal("no record of group 1 at the log's start")
		}
		r2, ok := parseRecord(data, logHeader+r.size, logID(data), logVersion)
		t.Logf("record 1: lag %d; record 2: gen %d durable %d (ok %v)", r.gen-r.durable, r2.gen, r2.durable, ok)
		clear(data[logHeader+recHeader+4 : logHeader+recHeader+12]) // a damaged sector inside group 1's body
	})
	_ = e.Close()
	opts.LogPath = cp + "-wal"
	opts.Hooks = Hooks{}
	r, err := Open(cp, opts)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return // refused as damage: nothing acknowledged lost silently
		}
		t.Fatal(err)
	}
	defer r.Close()
	if got := readKey(t, r, "b"); got == "" {
		t.Fatal("Open succeeded without an error, but the Sync-acknowledged write of b (group 2) is gone: " +
			"damage to group 1's record, after the fsync that acknowledged b, was read as a torn tail")
	}
}
