package ckpt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// goneFile writes, to a closed file, thread "thrA" (three checkpoints in
// the root namespace, each with a pending write, and two in namespace
// "sub") and thread "thrB" (two checkpoints). It returns the path and
// thrA's ids by namespace.
func goneFile(t *testing.T) (string, map[string][]string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gone.db")
	s, err := Open(path, Options{NoWAL: true, Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{}
	put := func(thread, ns string, n int) {
		parent := ""
		for step := range n {
			vers := map[string]string{"text": fmt.Sprint(step + 1)}
			cfg, err := s.Put(ctx, Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent}, Checkpoint{
				ChannelValues: map[string]any{"text": fmt.Sprint(thread, ns, step)}, ChannelVersions: vers,
			}, Metadata{"step": step}, vers)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWrites(ctx, cfg, []Write{{Channel: "text", Value: "w"}}, "task", ""); err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
			if thread == "thrA" {
				ids[ns] = append(ids[ns], cfg.CheckpointID)
			}
		}
	}
	put("thrA", "", 3)
	put("thrA", "sub", 2)
	put("thrB", "", 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// threadReads reads thread (namespace ns; id one of its checkpoints there)
// every way a caller resumes from, each returning the read's error, or one
// saying what it returned without an error.
func threadReads(s *Store, thread, ns, id string) map[string]func() error {
	ctx := context.Background()
	got := func(what string, n int) error { return fmt.Errorf("no error: %s returned %d", what, n) }
	tupleErr := func(tp *Tuple, err error) error {
		if err != nil {
			return err
		}
		return got("a tuple "+tp.Config.CheckpointID, 1)
	}
	list := func(opts ListOptions) error {
		n := 0
		for tp, err := range s.List(ctx, opts) {
			if err != nil {
				return err
			}
			if opts.ThreadID != "" || tp.Config.ThreadID == thread {
				n++
			}
		}
		return got("tuples of the thread", n)
	}
	reads := map[string]func() error{
		"GetTuple latest": func() error { return tupleErr(s.GetTuple(ctx, Config{ThreadID: thread, CheckpointNS: ns})) },
		"GetTuple by id": func() error {
			return tupleErr(s.GetTuple(ctx, Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: id}))
		},
		"Reader latest": func() error {
			return tupleErr(s.NewReader().GetTuple(ctx, Config{ThreadID: thread, CheckpointNS: ns}))
		},
		"Reader by id": func() error {
			return tupleErr(s.NewReader().GetTuple(ctx, Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: id}))
		},
		"List(thread, ns)": func() error { return list(ListOptions{ThreadID: thread, Namespace: NS(ns)}) },
		"List(thread)":     func() error { return list(ListOptions{ThreadID: thread}) },
		"List(all)":        func() error { return list(ListOptions{}) },
	}
	if ns == "" {
		snap := func(sn *Snapshot, err error) error {
			if err != nil {
				return err
			}
			return got("a snapshot "+sn.CheckpointID, 1)
		}
		reads["Load"] = func() error { return snap(s.Load(ctx, thread, id)) }
		reads["Latest"] = func() error { return snap(s.Latest(ctx, thread)) }
		reads["Branches"] = func() error {
			b, err := s.Branches(ctx, thread)
			if err != nil {
				return err
			}
			return got("branches", len(b))
		}
		reads["History"] = func() error {
			n := 0
			for _, err := range s.History(ctx, thread, ListOptions{}) {
				if err != nil {
					return err
				}
				n++
			}
			return got("snapshots", n)
		}
	}
	return reads
}

// checkHiddenIsCorrupt: every read of thread's namespace ns in the file at
// path is ErrCorrupt naming the thread.
func checkHiddenIsCorrupt(t *testing.T, path, thread, ns, id string) {
	t.Helper()
	for _, opts := range []Options{{ReadOnly: true}, {NoWAL: true}} {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, read := range threadReads(s, thread, ns, id) {
			err := read()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("%q", thread)) {
				t.Errorf("read-only %v: %s of thread %q namespace %q: %v, want ErrCorrupt naming the thread", opts.ReadOnly, name, thread, ns, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHiddenThreadIsCorrupt: damage that hides a thread's bucket (a
// flipped byte of its name in the threads bucket's page, its key gone)
// read as a thread never written: ErrNotFound, an empty List, and a
// worker resuming it started the conversation again. Now every read is
// ErrCorrupt naming the thread, and Verify lists the directory entry
// without its bucket.
func TestHiddenThreadIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"name flipped", func(t *testing.T, path string) {
			replaceInFile(t, path, []byte("thrA"), []byte("thr0"), notBucketName)
		}},
		{"key deleted", func(t *testing.T, path string) {
			editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketThreads).DeleteBucket([]byte("thrA")) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, ids := goneFile(t)
			tc.damage(t, path)
			checkHiddenIsCorrupt(t, path, "thrA", "", ids[""][1])
			checkHiddenIsCorrupt(t, path, "thrA", "sub", ids["sub"][0])
			checkVerifyNames(t, path, "thread", "thrA")
			if tc.name == "name flipped" {
				checkVerifyNames(t, path, "thread", "thr0") // a bucket without its entry
			}
			s, err := Open(path, Options{NoWAL: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			for name, err := range map[string]error{
				"CopyThread from": s.CopyThread(ctx, "thrA", "copy", CopyOptions{}),
				"CopyThread to":   s.CopyThread(ctx, "thrB", "thrA", CopyOptions{}),
				"Export": func() error {
					_, err := s.Export(ctx, io.Discard, ExportOptions{Threads: []string{"thrA"}})
					return err
				}(),
				"Thread": func() error { _, err := s.Thread(ctx, "thrA"); return err }(),
			} {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"thrA"`) {
					t.Errorf("%s of the hidden thread: %v, want ErrCorrupt naming it", name, err)
				}
			}
		})
	}
}

// TestHiddenCheckpointBucketIsCorrupt: a thread's cp/ and md/ buckets
// hidden (their headers in the thread's page) read as a thread without
// checkpoints. (cp/ alone is caught by the newest metadata's check,
// latestMetadata.)
func TestHiddenCheckpointBucketIsCorrupt(t *testing.T) {
	t.Parallel()
	path, ids := goneFile(t)
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		th := tx.Bucket(bucketThreads).Bucket([]byte("thrA"))
		if err := th.DeleteBucket(bucketCheckpoints); err != nil {
			return err
		}
		return th.DeleteBucket(bucketMetadata)
	})
	checkHiddenIsCorrupt(t, path, "thrA", "", ids[""][1])
	checkHiddenIsCorrupt(t, path, "thrA", "sub", ids["sub"][0])
}

// checkVerifyNames: Verify of the file at path lists a problem of check
// naming thread.
func checkVerifyNames(t *testing.T, path, check, thread string) {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		if p.Check == check && p.Thread == thread {
			return
		}
	}
	t.Errorf("Verify lists no %q problem of thread %q (%d others)", check, thread, len(rep.Problems))
}

// checkAbsent: every read of thread's namespace ns in s is ErrNotFound, or
// finds nothing (List, History), as for a thread never written.
func checkAbsent(t *testing.T, s *Store, thread, ns string) {
	t.Helper()
	id := ulid.Make().String()
	for name, read := range threadReads(s, thread, ns, id) {
		if ns != "" && (name == "List(thread)" || name == "List(all)") {
			continue // the thread's other namespaces
		}
		err := read()
		switch {
		case strings.HasPrefix(name, "List") || name == "History" || name == "Branches":
			if err == nil || !strings.HasSuffix(err.Error(), "returned 0") {
				t.Errorf("%s of thread %q namespace %q: %v, want nothing", name, thread, ns, err)
			}
		case !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt):
			t.Errorf("%s of thread %q namespace %q: %v, want ErrNotFound", name, thread, ns, err)
		}
	}
}

// checkVerifyClean: Verify of s finds nothing.
func checkVerifyClean(t *testing.T, s *Store) {
	t.Helper()
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
}

// TestAbsentThreadIsNotFound: a thread never written, one deleted
// (DeleteThread, GC's ThreadTTL), one an import wrote and rolled back, and
// a namespace never written read as before: ErrNotFound, or nothing.
func TestAbsentThreadIsNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(t *testing.T, tune *tuning) *Store {
		path, _ := goneFile(t)
		s, err := Open(path, Options{NoWAL: true, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("never written", func(t *testing.T) {
		t.Parallel()
		s := open(t, nil)
		checkAbsent(t, s, "never", "")
		checkAbsent(t, s, "thrA", "nope")
		checkVerifyClean(t, s)
	})
	t.Run("DeleteThread", func(t *testing.T) {
		t.Parallel()
		s := open(t, nil)
		if err := s.DeleteThread(ctx, "thrA"); err != nil {
			t.Fatal(err)
		}
		checkAbsent(t, s, "thrA", "")
		checkAbsent(t, s, "thrA", "sub")
		checkVerifyClean(t, s)
	})
	t.Run("GC ThreadTTL", func(t *testing.T) {
		t.Parallel()
		s := open(t, nil)
		old := ulid.MustNew(ulid.Timestamp(time.Now().Add(-48*time.Hour)), rand.Reader).String()
		vers := map[string]string{"text": "1"}
		if _, err := s.Put(ctx, Config{ThreadID: "old"}, Checkpoint{ID: old, ChannelValues: map[string]any{"text": "x"}, ChannelVersions: vers}, Metadata{}, vers); err != nil {
			t.Fatal(err)
		}
		st, err := s.GC(ctx, Policy{ThreadTTL: 24 * time.Hour})
		if err != nil || st.Threads != 1 {
			t.Fatalf("GC: %+v %v, want one thread removed", st, err)
		}
		checkAbsent(t, s, "old", "")
		checkVerifyClean(t, s)
	})
	t.Run("import rolled back", func(t *testing.T) {
		t.Parallel()
		src := open(t, nil)
		dump := export(t, src, "thrB")
		s := open(t, &tuning{importBatchRecords: 1})
		if err := s.DeleteThread(ctx, "thrB"); err != nil {
			t.Fatal(err)
		}
		// Without its end record: the import writes batches, then fails.
		cut := dump[:strings.LastIndex(strings.TrimSpace(string(dump)), "\n")+1]
		if _, err := s.Import(ctx, strings.NewReader(string(cut)), ImportOptions{}); !errors.Is(err, ErrDump) {
			t.Fatalf("Import of a dump cut short: %v, want ErrDump", err)
		}
		checkAbsent(t, s, "thrB", "")
		checkVerifyClean(t, s)
	})
	t.Run("import unfinished, read-only", func(t *testing.T) {
		t.Parallel()
		path, _ := goneFile(t)
		// thrB as an import a killed process left: listed under imports/.
		editClosedFile(t, path, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketImports)
			if err != nil {
				return err
			}
			imp, err := b.CreateBucket(make([]byte, idLen))
			if err != nil {
				return err
			}
			return imp.Put([]byte("thrB"), nil)
		})
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		checkAbsent(t, ro, "thrB", "")
		checkVerifyClean(t, ro)
	})
}

// TestHiddenThreadRefusesNewHistory: a Put that would start a thread whose
// bucket is hidden (its directory entry kept) is ErrCorrupt: it would
// start the conversation again on top of the hidden one.
func TestHiddenThreadRefusesNewHistory(t *testing.T) {
	t.Parallel()
	path, _ := goneFile(t)
	editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketThreads).DeleteBucket([]byte("thrA")) })
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vers := map[string]string{"text": "1"}
	_, err = s.Put(context.Background(), Config{ThreadID: "thrA"}, Checkpoint{ChannelValues: map[string]any{"text": "again"}, ChannelVersions: vers}, Metadata{}, vers)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Put starting the hidden thread again: %v, want ErrCorrupt", err)
	}
	if _, err := s.Save(context.Background(), "thrA", map[string]any{"text": "again"}, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Save starting the hidden thread again: %v, want ErrCorrupt", err)
	}
}

// dirThreads returns the threads of the file's directory (nil: no
// directory bucket) and of its threads bucket.
func dirThreads(t *testing.T, s *Store) (dir, threads []string) {
	t.Helper()
	err := s.view(context.Background(), func(r reader) error {
		if r.Exists(dirPath) {
			dir = []string{}
		}
		r.Scan(dirPath, nil, nil, false, func(k, _ []byte) error {
			thread, _, isNS, ok := parseDirKey(k)
			if !ok {
				t.Errorf("directory key %x", k)
			}
			if !isNS { // a namespace's entry (format 8): nsThreads
				dir = append(dir, thread)
			}
			return nil
		})
		return r.Buckets(threadsRoot, nil, func(name []byte) error {
			threads = append(threads, string(name))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, threads
}

// TestUpgradeBuildsThreadDirectory: a format-6 file has no directory of
// threads; the upgrade writes one entry per thread, in steps, and a run
// killed between them is finished by the next Open.
func TestUpgradeBuildsThreadDirectory(t *testing.T) {
	t.Parallel()
	build := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "f6.ckpt")
		s, err := Open(path, Options{Durability: NoSync})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 23 {
			if _, err := s.Save(context.Background(), fmt.Sprintf("t%02d", i), map[string]any{"n": i}, nil); err != nil {
				t.Fatal(err)
			}
		}
		toFormat(t, s, 6)
		if dir, _ := dirThreads(t, s); dir != nil {
			t.Fatalf("format-6 file with a directory of threads: %v", dir)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	check := func(t *testing.T, path string) {
		t.Helper()
		s, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		dir, threads := dirThreads(t, s)
		if len(threads) != 23 || fmt.Sprint(dir) != fmt.Sprint(threads) {
			t.Fatalf("after the upgrade: directory %v, threads %v", dir, threads)
		}
		checkVerifyClean(t, s)
	}
	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		path := build(t)
		s, err := Open(path, Options{tuning: &tuning{upgradeStepRecords: 5}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
	t.Run("killed midway", func(t *testing.T) {
		t.Parallel()
		path := build(t)
		// TestUpgradeKilledMidwayFinishesOnReopen's child, 5 records a
		// step: step 0 counts the tallies (there are no writes), steps
		// 1-5 list the threads; killed after step 2.
		cmd := exec.Command(testchild.Binary(), "-test.run=^TestUpgradeKilledMidwayFinishesOnReopen$")
		cmd.Env = childEnv("CKPT_UPGRADE_CHILD="+path, "CKPT_UPGRADE_KILL_AT=2")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child was not killed mid-upgrade: %v\n%s", err, out)
		}
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := dirThreads(t, ro)
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		if len(dir) == 0 || len(dir) == 23 {
			t.Fatalf("killed after step 2, the directory lists %d threads: not midway", len(dir))
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, path)
		_ = os.Remove(path)
	})
}
