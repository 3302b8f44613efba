package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// The last record of a log has no record after it to say whether it was
// ever durable: damaged on the medium after its fsync, it reads as a torn
// tail (a crash during its write) and Open drops it, with no error. If a
// caller was told it was durable, an acknowledged write is then lost
// silently. So before groups are acknowledged as durable, a record that
// says they were (a proof) follows them, unless the next group's record
// already does (wal.go, commit.go's vouch).

// lastDataRecord returns the log's last record that holds changes.
func lastDataRecord(t *testing.T, path string) logRecord {
	t.Helper()
	recs := logRecords(t, path)
	for i := len(recs) - 1; i >= 0; i-- {
		if muts, err := decodeMuts(recs[i].body); err == nil && len(muts) > 0 {
			return recs[i]
		}
	}
	t.Fatal("no record with changes in the log")
	return logRecord{}
}

// TestDamageToTheLastAcknowledgedRecordIsRefused: a Sync write (or NoSync
// writes and a Flush) acknowledged, then the log's last record that holds
// changes is damaged in a copy of the files (as the medium may, after
// every fsync ended): Open refuses the copy (ErrCorrupt) or reads the
// acknowledged write. On the build before, Open dropped the record as a
// torn tail and the write was gone, with no error.
func TestDamageToTheLastAcknowledgedRecordIsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		write func(e *Engine, k string) error
	}{
		{"Sync", func(e *Engine, k string) error {
			return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }})
		}},
		{"NoSync then Flush", func(e *Engine, k string) error {
			if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }}); err != nil {
				return err
			}
			return e.Flush(context.Background())
		}},
	} {
		for _, where := range []string{"header", "body", "last byte"} {
			t.Run(c.name+"/"+where, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "v.db")
				e, opts := vouchOpen(t, path, Hooks{HoldApplier: true})
				defer e.Close()
				for i := range 3 {
					if err := c.write(e, fmt.Sprint("k", i)); err != nil {
						t.Fatal(err)
					}
				}
				r := lastDataRecord(t, path+"-wal")
				cp := crashCopyFiles(t, path, filepath.Join(dir, "img"), func(suffix string, data []byte) {
					if suffix != "-wal" {
						return
					}
					switch where {
					case "header":
						data[r.off+2] ^= 0x40
					case "body":
						data[r.off+recHeader] ^= 0x01
					default:
						data[r.off+r.size-1] ^= 0x80
					}
				})
				o := opts
				o.LogPath, o.Hooks = cp+"-wal", Hooks{}
				d, err := Open(cp, o)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("Open = %v, want ErrCorrupt", err)
					}
					return
				}
				defer d.Close()
				if got := readKey(t, d, "k2"); got != "v-k2" {
					t.Fatalf("the last acknowledged write's record damaged: Open succeeded and k2 reads %q, want %q", got, "v-k2")
				}
			})
		}
	}
}
