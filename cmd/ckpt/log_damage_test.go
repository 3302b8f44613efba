package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// A checkpoint whose record is stored and whose entry in its thread's
// history order is gone (a damaged page, a tool) was left out of `ckpt
// log` without a word: the log walks the history order. It fails (exit
// 1, one line) naming the checkpoint instead of printing a shorter
// history.
func TestLogOfAThreadMissingAHistoryEntryFails(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	bad := filepath.Join(dir, "bad.db")
	copyFile(t, db, bad)
	b, err := bolt.Open(bad, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gone string
	err = b.Update(func(tx *bolt.Tx) error {
		ids := tx.Bucket([]byte("threads")).Bucket([]byte("demo")).Bucket([]byte("ids"))
		c := ids.Cursor()
		k, _ := c.First()
		k, _ = c.Next() // the second checkpoint (the layout: bucket_layout.go)
		gone = ulid.ULID(k[:16]).String()
		return ids.Delete(k)
	})
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	failsWith(t, runIn(t, dir, "", "log", bad, "demo"), 1, gone)
	failsWith(t, runIn(t, dir, "", "log", bad, "demo", "--json"), 1, "missing from the thread's history order")
}

// A namespace of a thread whose checkpoint records, metadata and history
// entries are all gone (damage in two buckets' pages) while its other
// namespace is found was left out of `ckpt log` and `ckpt threads`
// without a word; the directory of threads lists it, so both fail (exit
// 1, one line) naming thread and namespace.
func TestLogAndThreadsOfAThreadWithAHiddenNamespaceFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.db")
	s, err := ckpt.Open(bad, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"", "sub"} {
		parent := ""
		for step := range 2 {
			vers := map[string]string{"x": fmt.Sprint(step + 1)}
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: parent},
				ckpt.Checkpoint{ChannelValues: map[string]any{"x": step}, ChannelVersions: vers}, ckpt.Metadata{"step": step}, vers)
			if err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.Open(bad, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		th := tx.Bucket([]byte("threads")).Bucket([]byte("t"))
		for _, sub := range []string{"cp", "md", "ids"} { // the layout: bucket_layout.go
			bk := th.Bucket([]byte(sub))
			var dead [][]byte
			bk.ForEach(func(k, _ []byte) error {
				ours := bytes.HasPrefix(k, []byte("\x00\x03sub"))
				if sub == "ids" {
					ours = bytes.HasSuffix(k, []byte("sub"))
				}
				if ours {
					dead = append(dead, bytes.Clone(k))
				}
				return nil
			})
			if len(dead) != 2 {
				return fmt.Errorf("%s: %d keys of namespace sub, want 2", sub, len(dead))
			}
			for _, k := range dead {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	want := `thread "t" namespace "sub"`
	failsWith(t, runIn(t, dir, "", "log", bad, "t"), 1, want)
	failsWith(t, runIn(t, dir, "", "log", bad, "t", "--limit", "1", "--json"), 1, want)
	failsWith(t, runIn(t, dir, "", "threads", bad), 1, want)
}
