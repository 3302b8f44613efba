//go:build linux

package powerfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// recorder wraps go-fuse's loopback at the raw protocol level: every
// request the kernel sends passes through it, so no mutating call can
// reach the backing directory unrecorded (the node-level API would need
// each file handle wrapped, interface by interface).
type recorder struct {
	fuse.RawFileSystem
	rec *Record

	mu     sync.Mutex
	dirs   map[uint64]string // node -> directory path ("" the root)
	nodes  map[uint64]int    // node -> file identity
	byIno  map[uint64]int    // backing inode -> file identity
	nextID int
	fs     faults // the fault to inject, and the names it matches
}

func (r *recorder) dirOf(node uint64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.dirs[node]
	return d, ok
}

// learn notes what a lookup or create returned: a directory's path, or
// which file a node is. fresh: the entry is a new file (create), whose
// backing inode number may be one an unlinked file had.
func (r *recorder) learn(parent uint64, name string, out *fuse.EntryOut, fresh bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if out.Attr.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		if p, ok := r.dirs[parent]; ok {
			r.dirs[out.NodeId] = filepath.Join(p, name)
		}
		return 0
	}
	id, ok := r.byIno[out.Attr.Ino]
	if fresh || !ok {
		r.nextID++
		id = r.nextID
		r.byIno[out.Attr.Ino] = id
	}
	r.nodes[out.NodeId] = id
	if p, ok := r.dirs[parent]; ok {
		r.named(id, filepath.Join(p, name))
	}
	return id
}

func (r *recorder) file(node uint64) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.nodes[node]
	if !ok {
		r.rec.mu.Lock()
		r.rec.Unknown++
		r.rec.mu.Unlock()
	}
	return id, ok
}

// MarkName is the name whose lookup (a stat of it in the mount's root)
// records mark m: how a process using the mount marks a point in the
// record between its calls.
func MarkName(m int) string { return markPrefix + strconv.Itoa(m) }

const markPrefix = ".powerfs-mark-"

func (r *recorder) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if m, ok := strings.CutPrefix(name, markPrefix); ok && h.NodeId == 1 {
		if n, err := strconv.Atoi(m); err == nil {
			r.rec.Mark(n)
			return fuse.ENOENT
		}
	}
	st := r.RawFileSystem.Lookup(cancel, h, name, out)
	if st.Ok() {
		r.learn(h.NodeId, name, out, false)
	}
	return st
}

func (r *recorder) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	dir, _ := r.dirOf(in.NodeId)
	st := r.RawFileSystem.Create(cancel, in, name, out)
	if st.Ok() {
		direct(&out.OpenOut)
		id := r.learn(in.NodeId, name, &out.EntryOut, true)
		r.rec.add(Op{Kind: OpCreate, Dir: dir, Name: name, File: id})
	}
	return st
}

// Open hands the kernel no backing file: every read and write must come
// through the recorder.
func (r *recorder) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := r.RawFileSystem.Open(cancel, in, out)
	if st.Ok() {
		direct(out)
	}
	return st
}

// direct takes back the kernel passthrough go-fuse's loopback asks for
// (as root it registers the backing file's descriptor, and the kernel
// then writes to it without a request): the backing id stays registered
// until the release, unused.
func direct(out *fuse.OpenOut) {
	out.OpenFlags &^= fuse.FOPEN_PASSTHROUGH
	out.BackingID = 0
}

func (r *recorder) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.ENOSYS // no FIFOs or devices in the model
}

func (r *recorder) Symlink(cancel <-chan struct{}, h *fuse.InHeader, to, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.ENOSYS // no symbolic links in the model
}

func (r *recorder) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	dir, _ := r.dirOf(in.NodeId)
	st := r.RawFileSystem.Mkdir(cancel, in, name, out)
	if st.Ok() {
		r.learn(in.NodeId, name, out, true)
		r.rec.add(Op{Kind: OpMkdir, Dir: dir, Name: name})
	}
	return st
}

func (r *recorder) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	dir, _ := r.dirOf(h.NodeId)
	st := r.RawFileSystem.Unlink(cancel, h, name)
	if st.Ok() {
		r.rec.add(Op{Kind: OpUnlink, Dir: dir, Name: name})
	}
	return st
}

func (r *recorder) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	dir, _ := r.dirOf(h.NodeId)
	st := r.RawFileSystem.Rmdir(cancel, h, name)
	if st.Ok() {
		r.rec.add(Op{Kind: OpUnlink, Dir: dir, Name: name})
	}
	return st
}

func (r *recorder) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if in.Flags != 0 {
		return fuse.ENOSYS // RENAME_EXCHANGE, _NOREPLACE: not in the model
	}
	dir, _ := r.dirOf(in.NodeId)
	dir2, _ := r.dirOf(in.Newdir)
	st := r.RawFileSystem.Rename(cancel, in, oldName, newName)
	if st.Ok() {
		r.renamed(filepath.Join(dir, oldName), filepath.Join(dir2, newName))
		r.rec.add(Op{Kind: OpRename, Dir: dir, Name: oldName, Dir2: dir2, Name2: newName})
	}
	return st
}

func (r *recorder) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	dir, _ := r.dirOf(in.NodeId)
	st := r.RawFileSystem.Link(cancel, in, name, out)
	if st.Ok() {
		id := r.learn(in.NodeId, name, out, false)
		r.rec.add(Op{Kind: OpLink, Dir: dir, Name: name, File: id})
	}
	return st
}

func (r *recorder) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	st := r.RawFileSystem.SetAttr(cancel, in, out)
	if st.Ok() && in.Valid&fuse.FATTR_SIZE != 0 {
		if id, ok := r.file(in.NodeId); ok {
			r.rec.add(Op{Kind: OpTruncate, File: id, Size: int64(in.Size)})
		}
	}
	return st
}

func (r *recorder) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return r.faultyWrite(cancel, in, data)
}

func (r *recorder) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return r.Write(cancel, in, all)
}

// CopyFileRange is refused: the kernel then copies with plain reads and
// writes, which the record sees.
func (r *recorder) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	return 0, fuse.ENOSYS
}

func (r *recorder) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	if in.Mode != 0 {
		return fuse.ENOSYS // punching holes, keeping the size: not in the model
	}
	st := r.RawFileSystem.Fallocate(cancel, in)
	if st.Ok() {
		if id, ok := r.file(in.NodeId); ok {
			r.rec.add(Op{Kind: OpAlloc, File: id, Size: int64(in.Offset + in.Length)})
		}
	}
	return st
}

// Fsync is fsync and fdatasync alike: both make the file's data and
// size durable (what fdatasync promises for a size the data needs).
// An injected failure (Fault) still runs the real fsync: the bytes stay
// readable, as in the page cache after a failed writeback.
func (r *recorder) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	st := r.RawFileSystem.Fsync(cancel, in)
	if st.Ok() {
		if id, ok := r.file(in.NodeId); ok {
			if errno := r.hit(CallFsync, targetOf(r.nameOf(id))); errno != 0 {
				r.rec.add(Op{Kind: OpFsyncFail, File: id})
				return fuse.Status(errno)
			}
			r.rec.add(Op{Kind: OpFsync, File: id})
		}
	}
	return st
}

// FsyncDir always succeeds (the backing directory's own durability does
// not matter: images are built from the record); the kernel stops
// sending it for good after one ENOSYS.
func (r *recorder) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	dir, ok := r.dirOf(in.NodeId)
	if !ok {
		r.rec.mu.Lock()
		r.rec.Unknown++
		r.rec.mu.Unlock()
		return fuse.OK
	}
	if errno := r.hit(CallFsync, TargetDir); errno != 0 {
		// The entries it should have made durable never are (Image):
		// a power cut may keep or lose each, whatever fsyncs follow.
		r.rec.add(Op{Kind: OpFsyncDirFail, Dir: dir})
		return fuse.Status(errno)
	}
	r.rec.add(Op{Kind: OpFsyncDir, Dir: dir})
	return fuse.OK
}

// FS is a mounted recording file system.
type FS struct {
	Dir    string // the mount point: the store's files go here
	Record *Record
	r      *recorder
}

// Mount mounts a recording loopback over a new empty directory and
// unmounts it at the test's end. It skips the test where FUSE cannot be
// mounted, unless CKPT_REQUIRE_FUSE is set (CI), where it fails.
func Mount(t testing.TB) *FS {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CKPT_REQUIRE_FUSE") != "" {
		skip = t.Fatalf
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skip("powerfs: no /dev/fuse: %v", err)
	}
	base := t.TempDir()
	back, mnt := filepath.Join(base, "back"), filepath.Join(base, "mnt")
	for _, d := range []string{back, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root, err := fs.NewLoopbackRoot(back)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{}
	r := &recorder{rec: rec, dirs: map[uint64]string{1: ""}, nodes: map[uint64]int{}, byIno: map[uint64]int{}}
	r.fs = faults{counts: map[[2]int]int{}, failAt: map[int]bool{}, names: map[int]string{}, paths: map[string]int{}}
	zero := time.Duration(0)
	r.RawFileSystem = fs.NewNodeFS(root, &fs.Options{EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero})
	opts := &fuse.MountOptions{FsName: "powerfs", Name: "powerfs", DisableXAttrs: true}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if _, err := exec.LookPath("fusermount"); err != nil {
			opts.DirectMount = true // as root, mount(2) itself
		}
	}
	srv, err := fuse.NewServer(r, mnt, opts)
	if err != nil {
		skip("powerfs: cannot mount FUSE here: %v", err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		skip("powerfs: cannot mount FUSE here: %v", err)
	}
	t.Cleanup(func() {
		// umount(2) says EBUSY while any process holds a file in the
		// mount: with the tests in parallel, a child another test is
		// starting holds copies of every descriptor between its fork and
		// its exec, and a child just killed until it is torn down. So a
		// failed unmount is tried again for a while (CI failed once on
		// the first try), then detached: the mount goes once no one
		// holds it, and the test's directory can be removed.
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if err = srv.Unmount(); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			// Not a descriptor of this process's own (the store's): that
			// would be a leak, which a detach must not hide.
			fds, _ := os.ReadDir("/proc/self/fd")
			for _, fd := range fds {
				if to, lerr := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); lerr == nil && strings.HasPrefix(to, mnt+"/") {
					t.Errorf("powerfs: unmount: %v: this process still holds %s open", err, to)
				}
			}
			if derr := syscall.Unmount(mnt, syscall.MNT_DETACH); derr != nil {
				t.Errorf("powerfs: unmount: %v; detach: %v", err, derr)
			} else {
				t.Logf("powerfs: unmount: %v for 10 s; detached", err)
			}
		}
	})
	return &FS{Dir: mnt, Record: rec, r: r}
}
