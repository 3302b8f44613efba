//go:build unix

package engine

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// h204ChildDir, set, runs TestH204ExistingFileDirSyncFails's body in a
// child process as an ordinary user (as h201's test does).
const h204ChildDir = "CKPT_H204_CHILD_DIR"

// TestH204ExistingFileDirSyncFails: a read-write Open of an existing
// store fsyncs the file's directory (NoWAL: every time, 3ee2a18; with
// the log: CreateLog's) and the fsync fails (a directory its user may
// write in but not read, mode 0300). The Open must fail, saying why
// (errors.Is os.ErrPermission), leave the file byte-identical with its
// mtime, leave no log behind, and release the file's lock: a read-only
// Open of it right after succeeds, and so does a read-write one once the
// directory can be fsync'd again, with the store's data.
func TestH204ExistingFileDirSyncFails(t *testing.T) {
	h204AsNobody(t, "TestH204ExistingFileDirSyncFails", h204ExistingDirSyncBody)
}

// h204AsNobody runs body in a directory of its own: as root, in a child
// process (this test binary, copied where nobody may run it) as uid
// 65534, whom a directory's mode keeps out; else in this process.
func h204AsNobody(t *testing.T, name string, body func(t *testing.T, dir string)) {
	if dir := os.Getenv(h204ChildDir); dir != "" {
		body(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		body(t, t.TempDir())
		return
	}
	top, err := os.MkdirTemp("", "h204")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(top)
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "engine.test")
	if err := copyExecutable(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(top, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	if err := os.Chown(work, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), h204ChildDir+"="+work, "HOME="+work)
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
}

func h204ExistingDirSyncBody(t *testing.T, parent string) {
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, noWAL := range []bool{true, false} {
		dir := filepath.Join(parent, "wx-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatBool(noWAL))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "store.db")
		e := openTestEngine(t, path, noWAL)
		for _, k := range []string{"a", "b", "c"} {
			if err := do(e, put(k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o300); err != nil {
			t.Fatal(err)
		}
		if d, err := os.Open(dir); err == nil {
			_ = d.Close()
			t.Fatalf("a mode 0300 directory opened for reading (running as uid %d): the test cannot make the fsync fail", os.Geteuid())
		}
		opts := Options{
			Bolt:     bolt.Options{Timeout: time.Second},
			LogPath:  path + "-wal",
			NoWAL:    noWAL,
			Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
			Observer: nopObserver{},
		}
		for i := range 2 {
			e, err := Open(path, opts)
			if err == nil {
				_ = e.Close()
				t.Fatalf("NoWAL %v: read-write Open %d of an existing file in a directory that cannot be fsync'd succeeded", noWAL, i+1)
			}
			t.Logf("NoWAL %v: Open %d: %v", noWAL, i+1, err)
			if !errors.Is(err, os.ErrPermission) {
				t.Errorf("NoWAL %v: Open %d: want an error that says the directory could not be opened (os.ErrPermission), got %v", noWAL, i+1, err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("NoWAL %v: the failed Open %d changed the file", noWAL, i+1)
			}
			if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(old) {
				t.Errorf("NoWAL %v: the failed Open %d moved the file's mtime: %v %v", noWAL, i+1, st.ModTime(), err)
			}
			if _, err := os.Lstat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("NoWAL %v: the failed Open %d left a log beside the file: %v", noWAL, i+1, err)
			}
			// The lock: a read-only Open would wait for a lock the failed
			// Open kept (flock conflicts within one process too) and give
			// up after its Timeout.
			ro := opts
			ro.Bolt.ReadOnly = true
			re, err := Open(path, ro)
			if err != nil {
				t.Fatalf("NoWAL %v: a read-only Open after the failed Open %d: %v (its lock kept?)", noWAL, i+1, err)
			}
			if err := re.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		e, err = Open(path, opts)
		if err != nil {
			t.Fatalf("NoWAL %v: Open once the directory can be fsync'd: %v", noWAL, err)
		}
		err = e.View(t.Context(), func(r Reader) error {
			if v := r.Get(testBucket, []byte("c")); string(v) != "v" {
				t.Errorf("NoWAL %v: key c reads %q after the failed Opens, want v", noWAL, v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
