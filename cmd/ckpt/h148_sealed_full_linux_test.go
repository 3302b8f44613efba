//go:build linux

package main

// h148: ckpt rekey, ckpt import --key-file and ckpt export -o of an
// encrypted store on a full tmpfs: exit 0 means the whole change is there
// (rekey: every value opens with the new key alone; import: the new file
// holds the dump, sealed; export: the dump imports whole), a failure
// prints one line and loses nothing (every value opens with the keys
// given, exactly as written), and leaves no file beside.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// h148Read returns every value of the store at path opened with keys, by
// thread and checkpoint id.
func h148Read(path string, keys ...ckpt.Key) (map[string]string, error) {
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Encryption: &ckpt.Encryption{Keys: keys}})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	got := map[string]string{}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			return got, err
		}
		var v string
		if err := tp.Decode("v", &v); err != nil {
			return got, err
		}
		got[tp.Config.ThreadID+"/"+tp.Config.CheckpointID] = v
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err == nil && !rep.OK() {
		err = fmt.Errorf("verify: %v", rep.Problems)
	}
	return got, err
}

func TestH148SealedCommandsOnAFullTmpfs(t *testing.T) {
	// Parallel: as a serial test it ran alone (31 s), every parallel test
	// of the package waiting; each room is a tmpfs of its own.
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	ctx := context.Background()
	fix, k1, k2 := h148SealedFixture(t, 60, 3, 300)
	o, err := ckpt.Open(filepath.Join(fix, "o.db"), ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{k2}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := h148Read(filepath.Join(fix, "s.db"), k1)
	if err != nil || len(want) != 60 {
		t.Fatalf("fixture: %d values, %v", len(want), err)
	}
	inputs := int64(0)
	for _, n := range []string{"s.db", "o.db", "d.jsonl", "k1", "k2"} {
		fi, err := os.Stat(filepath.Join(fix, n))
		if err != nil {
			t.Fatal(err)
		}
		inputs += fi.Size()
	}
	cases := []struct {
		name string
		args []string
		dst  string
	}{
		{"rekey", []string{"rekey", "s.db", "--key-file", "k2", "--key-file", "k1"}, ""},
		{"import a sealed dump into a new path", []string{"import", "--key-file", "k1", "new.db", "d.jsonl"}, "new.db"},
		{"import a sealed dump into a store of another key", []string{"import", "--key-file", "k2", "o.db", "d.jsonl"}, ""},
		{"export -o", []string{"export", "--key-file", "k1", "s.db", "-o", "out.jsonl"}, "out.jsonl"},
	}
	outcomes := map[string]int{}
	var rooms []int64
	for room := int64(0); room <= 1<<20; room += 24 << 10 {
		rooms = append(rooms, room)
	}
	rooms = append(rooms, 2<<20, 4<<20, 6<<20, 8<<20, 12<<20, 16<<20)
	for _, c := range cases {
		for _, room := range rooms {
			what := fmt.Sprintf("%s, %d bytes of room", c.name, room)
			mnt := t.TempDir()
			// mount(2) and umount(2), not mount(8) and umount(8): two
			// execs for each of the 196 rooms cost 4.5 s of CPU.
			if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d", inputs+6*4096+room)); err != nil {
				t.Fatalf("mount: %v", err)
			}
			mounted := true
			t.Cleanup(func() {
				if mounted {
					_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
				}
			})
			for _, n := range []string{"s.db", "o.db", "d.jsonl", "k1", "k2"} {
				if err := copyFileErr(filepath.Join(fix, n), filepath.Join(mnt, n)); err != nil {
					t.Fatal(err)
				}
			}
			r := runIn(t, mnt, "", c.args...)
			// What it left, looked at off the full disk.
			left := t.TempDir()
			names := dirNames(t, mnt)
			for _, n := range names {
				if err := copyFileErr(filepath.Join(mnt, n), filepath.Join(left, n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := h148Unmount(mnt); err != nil {
				t.Fatalf("umount %s: %v", mnt, err)
			}
			mounted = false
			if outcomes[fmt.Sprintf("%s: exit %d", c.name, r.code)]++; r.code != 0 && outcomes[c.name+": exit 1"] <= 2 {
				t.Logf("%s: %s", what, r.stderr)
			}
			if room == rooms[len(rooms)-1] && r.code != 0 {
				t.Errorf("%s: fails: %s", what, r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Fatalf("%s: stack trace:\n%s", what, r)
			}
			allowed := []string{"s.db", "s.db-wal", "o.db", "o.db-wal", "d.jsonl", "k1", "k2"}
			if r.code == 0 && c.dst != "" {
				allowed = append(allowed, c.dst)
			}
			for _, n := range names {
				if !slices.Contains(allowed, n) {
					t.Fatalf("%s: exit %d left %s (all: %v):\n%s", what, r.code, n, names, r)
				}
			}
			if r.code != 0 {
				lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
				if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "ckpt: ") {
					t.Fatalf("%s: a failure must exit 1 with one line:\n%s", what, r)
				}
			}
			// The store: nothing lost; after a rekey that exited 0 every
			// value opens with the new key alone.
			keys := []ckpt.Key{k2, k1}
			if r.code == 0 && c.name == "rekey" {
				keys = []ckpt.Key{k2}
			}
			got, err := h148Read(filepath.Join(left, "s.db"), keys...)
			if err != nil || !maps.Equal(got, want) {
				t.Fatalf("%s: exit %d: s.db reads %d values (%d written): %v\n%s", what, r.code, len(got), len(want), err, r)
			}
			// The store of another key: all of the dump (under key 1, which
			// it keeps: docs/encryption.md) or none of it.
			other, err := h148Read(filepath.Join(left, "o.db"), k2, k1)
			switch {
			case err != nil:
				t.Fatalf("%s: exit %d: o.db: %v\n%s", what, r.code, err, r)
			case r.code == 0 && c.name == "import a sealed dump into a store of another key" && !maps.Equal(other, want):
				t.Fatalf("%s: exit 0: o.db reads %d values (%d in the dump)\n%s", what, len(other), len(want), r)
			case (r.code != 0 || c.name != "import a sealed dump into a store of another key") && len(other) != 0:
				t.Fatalf("%s: exit %d: o.db reads %d values, want none\n%s", what, r.code, len(other), r)
			}
			switch {
			case r.code != 0 || c.dst == "":
			case c.dst == "new.db":
				if got, err := h148Read(filepath.Join(left, "new.db"), k1); err != nil || !maps.Equal(got, want) {
					t.Fatalf("%s: exit 0: new.db reads %d values: %v\n%s", what, len(got), err, r)
				}
			case c.dst == "out.jsonl":
				b, err := os.ReadFile(filepath.Join(left, "out.jsonl"))
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(left, "check.db")
				if _, err := ckpt.ImportFile(ctx, p, bytes.NewReader(b), ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{k1}}}, ckpt.ImportOptions{}); err != nil {
					t.Fatalf("%s: exit 0, and out.jsonl does not import: %v", what, err)
				}
				if got, err := h148Read(p, k1); err != nil || !maps.Equal(got, want) {
					t.Fatalf("%s: exit 0: out.jsonl's import reads %d values: %v", what, len(got), err)
				}
			}
		}
	}
	t.Logf("%v", outcomes)
}

// h148Unmount unmounts the tmpfs at mnt, again on EBUSY for up to 10 s:
// a child that another parallel test forks holds a copy of every file
// this process has open (one in mnt, read a moment before) until it
// execs, a few milliseconds on a loaded machine. umount(8)'s own exec
// used to hide that window.
func h148Unmount(mnt string) error {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		err := syscall.Unmount(mnt, 0)
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
	}
}

// h148SealedFixture makes a directory with key files k1 and k2 (ids 1
// and 2), a store s.db sealed under k1 holding n checkpoints of threads
// t0..t(threads-1), each value its name repeated rep times, and d.jsonl,
// its dump.
func h148SealedFixture(t *testing.T, n, threads, rep int) (fix string, k1, k2 ckpt.Key) {
	t.Helper()
	ctx := context.Background()
	fix = t.TempDir()
	k1, k2 = cliKey(1, 11), cliKey(2, 22)
	for _, k := range []ckpt.Key{k1, k2} {
		if err := os.WriteFile(filepath.Join(fix, fmt.Sprintf("k%d", k.ID)), []byte(fmt.Sprintf("%d %s\n", k.ID, hex.EncodeToString(k.Secret[:]))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ckpt.Open(filepath.Join(fix, "s.db"), ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{k1}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		v := strings.Repeat(fmt.Sprintf("t%d-%d.", i%threads, i), rep)
		if _, err := s.Save(ctx, fmt.Sprintf("t%d", i%threads), map[string]any{"v": v}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var dump bytes.Buffer
	if _, err := s.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fix, "d.jsonl"), dump.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return fix, k1, k2
}
