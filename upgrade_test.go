package ckpt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

// fillForUpgrade stores everything a file can hold: what a dump carries
// (fillForExport), a list channel long enough to be stored as folded
// append-deltas, and a large value.
func fillForUpgrade(t *testing.T, s *Store) {
	t.Helper()
	fillForExport(t, s)
	ctx := context.Background()
	cfg := Config{ThreadID: "lists"}
	var msgs []any
	for i := range 40 {
		msgs = append(msgs, map[string]any{"role": "user", "n": i, "text": strings.Repeat("m", i)})
		v := strconv.Itoa(i + 1)
		newVers := map[string]string{"messages": v}
		vals := map[string]any{"messages": msgs}
		if i == 0 {
			newVers["big"] = "1"
			vals["big"] = strings.Repeat("0123456789abcdef", 128)
		}
		var err error
		cfg, err = s.Put(ctx, cfg, Checkpoint{ChannelValues: vals, ChannelVersions: map[string]string{"messages": v, "big": "1"}},
			Metadata{"step": i}, newVers)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// storeState describes every checkpoint of the store, one line each, in
// List order: ids, parent, decoded values, versions, metadata and pending
// writes. Two stores with equal states read back alike.
func storeState(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for tp, err := range s.List(context.Background(), ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		vals := map[string]any{}
		for ch, raw := range tp.Checkpoint.ChannelValues {
			v, err := raw.(Raw).Value()
			if err != nil {
				t.Fatalf("thread %q checkpoint %s channel %q: %v", tp.Config.ThreadID, tp.Config.CheckpointID, ch, err)
			}
			vals[ch] = v
		}
		var writes []any
		for _, w := range tp.PendingWrites {
			v, err := w.Value.Value()
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, []any{w.TaskID, w.TaskPath, w.Idx, w.Channel, v})
		}
		parent := ""
		if tp.ParentConfig != nil {
			parent = tp.ParentConfig.CheckpointID
		}
		b, err := json.Marshal([]any{tp.Config, parent, vals, tp.Checkpoint.ChannelVersions, tp.Checkpoint.VersionsSeen, tp.Metadata, writes})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	if len(out) == 0 {
		t.Fatal("empty store state")
	}
	return out
}

// copyFormat2 copies the format-2 file in testdata (written by the build
// before checksums) to a temporary path.
func copyFormat2(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "format2", "store.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.ckpt")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func format2State(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "format2", "state.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// checkUpgraded checks that the file at path is of this build's format,
// holds only checksummed records (XXH3, what this build writes), reads back
// the state of the format-2 file, and passes Verify (bbolt's page check
// included).
func checkUpgraded(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := storeState(t, s), format2State(t); !slices.Equal(got, want) {
		t.Fatalf("upgraded file reads back %d checkpoints differently from the format-2 file (%d)", len(got), len(want))
	}
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify after upgrade: %v %v", rep.Problems, err)
	}
	unsealed := 0
	err = s.view(context.Background(), func(r reader) error {
		if f, err := formatOf(r); err != nil || f != formatVersion {
			t.Fatalf("format after upgrade = %d, %v", f, err)
		}
		r.Buckets(threadsRoot, nil, func(name []byte) error {
			for _, sub := range sealedSubBuckets {
				r.Scan(threadPath(string(name), sub), nil, nil, false, func(_, v []byte) error {
					if !isSealed(sub, v) {
						unsealed++
					}
					return nil
				})
			}
			return nil
		})
		return nil
	})
	if err != nil || unsealed != 0 {
		t.Fatalf("after upgrade %d records have no checksum (%v)", unsealed, err)
	}
	if crc, xxh, keyed, threaded := recordSums(t, s); crc+xxh+keyed != 0 || threaded == 0 {
		t.Fatalf("after upgrade %d records with CRC-32C, %d with XXH3, %d with the key in the sum, %d with the thread", crc, xxh, keyed, threaded)
	}
}

// TestFormat3FileIsUpgradedByItsMarker: a file of format 3 (every record
// with a CRC-32C) reads as it is, read-only and read-write; a read-write
// Open only moves its marker to 6 (its records keep their bytes and their
// CRC), and what is written after carries XXH3 over thread, key and
// record.
func TestFormat3FileIsUpgradedByItsMarker(t *testing.T) {
	t.Parallel()
	testUpgradedByMarker(t, 3)
}

// TestFormat4FileIsUpgradedByItsMarker is the same for a file of format 4
// (every record with an XXH3 sum of the record alone): its records keep
// their sums, which do not cover their keys.
func TestFormat4FileIsUpgradedByItsMarker(t *testing.T) {
	t.Parallel()
	testUpgradedByMarker(t, 4)
}

// TestFormat5FileIsUpgradedByItsMarker is the same for a file of format 5
// (every record with an XXH3 sum of key and record): its records keep
// their sums, which do not cover their threads.
func TestFormat5FileIsUpgradedByItsMarker(t *testing.T) {
	t.Parallel()
	testUpgradedByMarker(t, 5)
}

// TestFormat6FileIsUpgradedByItsMarker is the same for a file of format 6
// (sums over thread, key and record, and no write tallies): read-only, its
// pending writes read unchecked; read-write, the upgrade counts them into
// their tallies (Verify checks each) before it moves the marker.
func TestFormat6FileIsUpgradedByItsMarker(t *testing.T) {
	t.Parallel()
	testUpgradedByMarker(t, 6)
}

func testUpgradedByMarker(t *testing.T, from uint32) {
	ctx := context.Background()
	path, want := formatFile(t, from)
	records := func(s *Store) map[string]string {
		m := map[string]string{}
		err := s.view(ctx, func(r reader) error {
			return r.Buckets(threadsRoot, nil, func(name []byte) error {
				for _, sub := range sealedSubBuckets {
					r.Scan(threadPath(string(name), sub), nil, nil, false, func(k, v []byte) error {
						m[fmt.Sprintf("%s/%s/%x", name, sub, k)] = string(v)
						return nil
					})
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	check := func(s *Store, format uint32) map[string]string {
		t.Helper()
		if got := storeState(t, s); !slices.Equal(got, want) {
			t.Fatalf("format %d: the file reads back other values", format)
		}
		if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
			t.Fatalf("format %d: Verify: %v %v", format, rep.Problems, err)
		}
		err := s.view(ctx, func(r reader) error {
			if f, err := formatOf(r); err != nil || f != format {
				t.Fatalf("format = %d, %v; want %d", f, err, format)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !sumsOfFormat(t, s, from) {
			t.Fatalf("format %d: the records do not all carry format %d's sums", format, from)
		}
		return records(s)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	before := check(ro, from)
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := check(s, formatVersion); !maps.Equal(after, before) {
		t.Fatalf("the upgrade from format %d rewrote records", from)
	}
	cfg, err := s.Put(ctx, Config{ThreadID: "new"}, Checkpoint{ChannelValues: map[string]any{"x": "y"}, ChannelVersions: map[string]string{"x": "1"}}, nil, map[string]string{"x": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if tp, err := s.GetTuple(ctx, cfg); err != nil || tp.Checkpoint.ChannelValues["x"] == nil {
		t.Fatalf("read after the upgrade: %v", err)
	}
	if _, _, _, threaded := recordSums(t, s); threaded == 0 {
		t.Fatal("a record written after the upgrade carries no sum over its thread")
	}
}

func TestFormat2FileIsUpgradedInPlace(t *testing.T) {
	t.Parallel()
	path := copyFormat2(t)
	// Read-only: read as is, without checksums, and left format 2.
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storeState(t, ro), format2State(t); !slices.Equal(got, want) {
		t.Fatal("read-only open of a format-2 file reads other values")
	}
	if err := ro.view(context.Background(), func(r reader) error {
		if f, _ := formatOf(r); f != 2 {
			t.Fatalf("read-only open changed the format to %d", f)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	// Small steps, so the upgrade takes many transactions.
	s, err := Open(path, Options{tuning: &tuning{upgradeStepRecords: 7}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkUpgraded(t, path)
}

// TestUpgradeKilledMidwayFinishesOnReopen kills a child process (this test
// binary) after a number of upgrade steps, then reopens the file: a
// format-2 file after steps 0, 6, ... 24 (of about 30) and after its
// marker's write, and a format-3 file after its one step, the marker's
// write (synced in the log, maybe not yet in bbolt). Reopened, each reads
// back as before, in this build's format, and Verify finds nothing wrong.
func TestUpgradeKilledMidwayFinishesOnReopen(t *testing.T) {
	t.Parallel()
	if path := os.Getenv("CKPT_UPGRADE_CHILD"); path != "" {
		at := os.Getenv("CKPT_UPGRADE_KILL_AT")
		kill, _ := strconv.Atoi(at)
		hook := func(step int, marked bool) {
			if marked && at == "marker" || !marked && at != "marker" && step == kill {
				testchild.KillSelf()
			}
		}
		// The log grows by loggedGrow (wal_test.go), not 4 MiB: the parent
		// reads the log the kill leaves on every reopen, and the upgrade,
		// not the log, is what is tested.
		_, err := Open(path, Options{tuning: &tuning{upgradeStepRecords: 5, upgradeStepHook: hook, hooks: engine.Hooks{LogGrow: loggedGrow}}})
		fmt.Println("open returned", err)
		os.Exit(3)
	}
	killChild := func(t *testing.T, path, at string) {
		t.Helper()
		cmd := exec.Command(testchild.Binary(), "-test.run=^TestUpgradeKilledMidwayFinishesOnReopen$")
		cmd.Env = childEnv("CKPT_UPGRADE_CHILD="+path, "CKPT_UPGRADE_KILL_AT="+at)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill at %s: child was not killed mid-upgrade: %v\n%s", at, err, out)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("kill at %s: reopen after a killed upgrade: %v", at, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []string{"0", "6", "12", "18", "24", "marker"} {
		path := copyFormat2(t)
		killChild(t, path, at)
		checkUpgraded(t, path)
	}
	for _, from := range []uint32{3, 4, 5, 6} {
		for _, at := range []string{"0", "marker"} {
			path, want := formatFile(t, from)
			killChild(t, path, at)
			checkUpgradedByMarker(t, path, from, want)
		}
	}
}

// checkUpgradedByMarker checks the file at path, of format from before its
// upgrade by marker: it reads back want, passes Verify, is of this build's
// format and still holds the records of format from, as they were.
func checkUpgradedByMarker(t *testing.T, path string, from uint32, want []string) {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := storeState(t, s); !slices.Equal(got, want) {
		t.Fatalf("the format-%d file reads back other values after its killed upgrade", from)
	}
	if rep, err := s.Verify(context.Background(), VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
	err = s.view(context.Background(), func(r reader) error {
		if f, err := formatOf(r); err != nil || f != formatVersion {
			t.Fatalf("format after the killed upgrade = %d, %v", f, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sumsOfFormat(t, s, from) {
		t.Fatalf("after the upgrade from format %d: the records do not all carry its sums", from)
	}
}

// sumsOfFormat reports whether every record of s carries the sum format
// (3, 4 or 5) wrote, and logs the counts when not.
func sumsOfFormat(t *testing.T, s *Store, format uint32) bool {
	t.Helper()
	crc, xxh, keyed, threaded := recordSums(t, s)
	counts := map[uint32]int{3: crc, 4: xxh, 5: keyed, 6: threaded}
	for f, n := range counts {
		if f == format && n == 0 || f != format && n != 0 {
			t.Logf("%d records with CRC-32C, %d with XXH3, %d with the key in the sum, %d with the thread", crc, xxh, keyed, threaded)
			return false
		}
	}
	return true
}

// formatFile writes a closed file of format 3 or 4 (fillForUpgrade's
// records with CRC-32C or XXH3 sums of the record alone) and returns its
// path and what it reads back.
func formatFile(t *testing.T, format uint32) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("f%d.ckpt", format))
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	fillForUpgrade(t, s)
	want := storeState(t, s)
	toFormat(t, s, format)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// TestImportOfFormat2DumpSealsRecords: a dump of a format-2 file carries
// records without checksums; imported, they get them.
func TestImportOfFormat2DumpSealsRecords(t *testing.T) {
	t.Parallel()
	ro, err := Open(copyFormat2(t), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	dump := export(t, ro)
	_ = ro.Close()
	path := filepath.Join(t.TempDir(), "imported.ckpt")
	if _, err := ImportFile(context.Background(), path, strings.NewReader(string(dump)), Options{Durability: NoSync}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	checkUpgraded(t, path)
}
