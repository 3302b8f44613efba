//go:build linux

package powerfs

import (
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Call is the kind of call a Fault fails.
type Call int

const (
	CallFsync Call = iota // an fsync or fdatasync of a file, or an fsync of a directory
	CallWrite             // a write to a file
)

func (c Call) String() string { return [...]string{"fsync", "write"}[c] }

// Target is which files a Fault counts the calls of, by name.
type Target int

const (
	TargetDB    Target = iota // the store's file, s.db
	TargetLog                 // its write-ahead log, s.db-wal
	TargetOther               // any other file: Compact's, a backup's or an import's
	TargetDir                 // a directory (fsync only)
)

func (g Target) String() string { return [...]string{"db", "log", "other", "dir"}[g] }

func targetOf(name string) Target {
	switch filepath.Base(name) {
	case "s.db":
		return TargetDB
	case "s.db-wal":
		return TargetLog
	}
	return TargetOther
}

// Fault fails one call: the Nth call of its kind to its target (counted
// from the mount, 1 the first; N 0 fails none).
//
// A failed fsync is Linux's since 2018 ("fsyncgate"): the data written
// since the file's last good fsync stays in the page cache, visible to
// every read, but the kernel marked those pages clean, so no later fsync
// writes them: the record notes the failure (OpFsyncFail), and Image
// never counts those ops durable, whatever syncs follow.
//
// A failed write writes nothing (Errno, typically ENOSPC or EIO), or,
// Short, its first half: that call returns the half as done, and the
// next write to the same file (the caller's retry of the rest) fails.
type Fault struct {
	Call   Call
	Target Target
	N      int
	Errno  syscall.Errno
	Short  bool
}

type faults struct {
	f        Fault
	counts   map[[2]int]int // {call, target} -> calls seen
	failAt   map[int]bool   // files whose next write fails (after a short one)
	names    map[int]string // file -> its path in the mount
	paths    map[string]int // path -> file
	hits     int
	hit      string // what the fault failed
	disarmed bool
}

// arm sets the fault the next calls are counted for, from zero.
func (r *recorder) arm(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fs.f, r.fs.disarmed = f, false
	r.fs.counts = map[[2]int]int{}
}

// hit counts a call of kind c to target g and returns the errno it
// fails with (0: it does not fail).
func (r *recorder) hit(c Call, g Target) syscall.Errno {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]int{int(c), int(g)}
	r.fs.counts[k]++
	f := r.fs.f
	if r.fs.disarmed || f.N == 0 || f.Call != c || f.Target != g || r.fs.counts[k] != f.N {
		return 0
	}
	r.fs.hits++
	return f.Errno
}

func (r *recorder) nameOf(id int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fs.names[id]
}

// named notes that file id is at path (a create, lookup or link).
func (r *recorder) named(id int, path string) {
	r.fs.names[id] = path
	r.fs.paths[path] = id
}

// renamed moves a name in the recorder's view, so a temporary file
// renamed into place counts as what it became.
func (r *recorder) renamed(from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.fs.paths[from]; ok {
		delete(r.fs.paths, from)
		r.fs.paths[to] = id
		r.fs.names[id] = to
	}
}

// writeFault decides a write's fate: whole (0, false), refused (errno),
// or its first half only (0, true).
func (r *recorder) writeFault(id int) (syscall.Errno, bool) {
	r.mu.Lock()
	if r.fs.failAt[id] {
		delete(r.fs.failAt, id)
		e := r.fs.f.Errno
		r.mu.Unlock()
		return e, false
	}
	name := r.fs.names[id]
	r.mu.Unlock()
	errno := r.hit(CallWrite, targetOf(name))
	if errno == 0 {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fs.hit = fmt.Sprintf("%s (%s)", name, errno)
	if r.fs.f.Short {
		r.fs.failAt[id] = true
		return 0, true
	}
	return errno, false
}

func (r *recorder) faultyWrite(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	id, ok := r.file(in.NodeId)
	if ok {
		errno, short := r.writeFault(id)
		if errno != 0 || short {
			r.mu.Lock()
			r.fs.hit += fmt.Sprintf(" write [%d,+%d) short %v", in.Offset, len(data), short)
			r.mu.Unlock()
		}
		if errno != 0 {
			return 0, fuse.Status(errno)
		}
		if short && len(data) > 1 {
			data = data[:len(data)/2]
		}
	}
	n, st := r.RawFileSystem.Write(cancel, in, data)
	if st.Ok() && n > 0 && ok {
		r.rec.add(Op{Kind: OpWrite, File: id, Off: int64(in.Offset), Data: data[:n]})
	}
	return n, st
}

// FaultHits is how many calls the armed faults failed.
func (fs *FS) FaultHits() int {
	fs.r.mu.Lock()
	defer fs.r.mu.Unlock()
	return fs.r.fs.hits
}

// FaultHit says what call the fault failed ("" none yet).
func (fs *FS) FaultHit() string {
	fs.r.mu.Lock()
	defer fs.r.mu.Unlock()
	return fs.r.fs.hit
}

// Calls is how many calls of kind c to target g the mount saw since
// the last Arm.
func (fs *FS) Calls(c Call, g Target) int {
	fs.r.mu.Lock()
	defer fs.r.mu.Unlock()
	return fs.r.fs.counts[[2]int{int(c), int(g)}]
}

// Arm sets fault f, counting calls from now.
func (fs *FS) Arm(f Fault) { fs.r.arm(f) }

// Disarm fails no more calls (the counts go on).
func (fs *FS) Disarm() {
	fs.r.mu.Lock()
	defer fs.r.mu.Unlock()
	fs.r.fs.disarmed = true
	fs.r.fs.failAt = map[int]bool{}
}
