//go:build unix

package engine

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// h201ChildDir, set, runs TestH201NewFileDirSyncFails's body in a child
// process as an ordinary user (the parent is root, whom no directory's
// mode keeps out).
const h201ChildDir = "CKPT_H201_CHILD_DIR"

// TestH201NewFileDirSyncFails: OpenBolt makes a new file and cannot fsync
// its directory (a directory its user may write in but not read, mode
// 0300: it cannot be opened for the fsync). The Open fails; it must not
// leave the file it made behind, made whole by bbolt: the next Open found
// a file, no new one, skipped the directory's fsync and took writes into
// a file whose name a power cut may take, the failure of the first Open
// forgotten.
func TestH201NewFileDirSyncFails(t *testing.T) {
	if dir := os.Getenv(h201ChildDir); dir != "" {
		h201NewFileDirSyncBody(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		h201NewFileDirSyncBody(t, t.TempDir())
		return
	}
	// Root: run the body as nobody, from a copy of this binary nobody
	// may run, in a directory nobody owns.
	top, err := os.MkdirTemp("", "h201")
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
	cmd := exec.Command(bin, "-test.run=^TestH201NewFileDirSyncFails$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), h201ChildDir+"="+work, "HOME="+work)
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
}

func copyExecutable(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	return dst.Close()
}

func h201NewFileDirSyncBody(t *testing.T, parent string) {
	dir := filepath.Join(parent, "wx-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700) // for the removal of parent
	if err := os.Chmod(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Close()
		t.Fatalf("a mode 0300 directory opened for reading (running as uid %d): the test cannot make the fsync fail", os.Geteuid())
	}
	path := filepath.Join(dir, "store.db")
	for i := range 2 {
		db, _, err := OpenBolt(path, &bolt.Options{Timeout: time.Second})
		if err == nil {
			_ = db.Close()
			t.Fatalf("Open %d of a new file in a directory that cannot be fsync'd succeeded (the first failed for it: the file's name may not survive a power cut)", i+1)
		}
		t.Logf("Open %d: %v", i+1, err)
		if fi, serr := os.Stat(path); serr == nil {
			t.Fatalf("after the failed Open %d, %s is left behind (%d bytes): the next Open takes it for a store and skips the directory's fsync", i+1, path, fi.Size())
		}
	}
}
