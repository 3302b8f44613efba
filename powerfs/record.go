//go:build linux

package powerfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Kind is what an Op did.
type Kind int

const (
	OpWrite        Kind = iota // File, Off, Data
	OpTruncate                 // File, Size (truncate, ftruncate, O_TRUNC)
	OpAlloc                    // File, Size: a fallocate that extends the file to Size
	OpCreate                   // Dir, Name, File: a new file's entry
	OpMkdir                    // Dir, Name
	OpLink                     // Dir, Name, File: another entry of File
	OpUnlink                   // Dir, Name
	OpRename                   // Dir, Name -> Dir2, Name2
	OpFsync                    // File: its data and size are durable
	OpFsyncDir                 // Dir: its entries are durable
	OpMark                     // Mark: a point the test named (no effect)
	OpFsyncFail                // File: an fsync that failed (Fault): what it should have covered is never durable
	OpFsyncDirFail             // Dir: a directory's fsync that failed: the entries it should have covered are never durable
)

func (k Kind) String() string {
	return [...]string{"write", "truncate", "fallocate", "create", "mkdir", "link", "unlink", "rename", "fsync", "fsyncdir", "mark", "failed fsync", "failed fsyncdir"}[k]
}

// Op is one recorded call (after it succeeded).
type Op struct {
	Kind      Kind
	File      int    // the file's identity: a new one at each create
	Dir, Dir2 string // directories, relative to the mount ("" is its root)
	Name      string
	Name2     string
	Off, Size int64
	Data      []byte
	Mark      int
}

func (o Op) String() string {
	switch o.Kind {
	case OpWrite:
		return fmt.Sprintf("write f%d [%d,+%d)", o.File, o.Off, len(o.Data))
	case OpTruncate, OpAlloc:
		return fmt.Sprintf("%s f%d %d", o.Kind, o.File, o.Size)
	case OpCreate, OpLink:
		return fmt.Sprintf("%s %s -> f%d", o.Kind, filepath.Join(o.Dir, o.Name), o.File)
	case OpRename:
		return fmt.Sprintf("rename %s %s", filepath.Join(o.Dir, o.Name), filepath.Join(o.Dir2, o.Name2))
	case OpFsync, OpFsyncFail:
		return fmt.Sprintf("%s f%d", o.Kind, o.File)
	case OpFsyncDir, OpFsyncDirFail:
		return fmt.Sprintf("%s %q", o.Kind, o.Dir)
	case OpMark:
		return fmt.Sprintf("mark %d", o.Mark)
	}
	return fmt.Sprintf("%s %s", o.Kind, filepath.Join(o.Dir, o.Name))
}

// Record is the ordered list of ops, shared by the file system's
// handlers and the test.
type Record struct {
	mu    sync.Mutex
	ops   []Op
	marks map[int]int // mark -> index of its op
	// Unknown counts writes or syncs to a node the record could not name
	// (it must stay 0, or the images would be wrong).
	Unknown int
}

func (r *Record) add(o Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.Data != nil {
		o.Data = append([]byte(nil), o.Data...)
	}
	r.ops = append(r.ops, o)
}

// Mark records a point named m and returns it: an image "at m" holds
// what a power cut right there could leave.
func (r *Record) Mark(m int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.marks == nil {
		r.marks = map[int]int{}
	}
	r.marks[m] = len(r.ops)
	r.ops = append(r.ops, Op{Kind: OpMark, Mark: m})
	return m
}

// Ops returns a copy of the ops so far.
func (r *Record) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Loss says how an image treats the ops no sync made durable.
type Loss struct {
	// Keep is the chance each such op is kept (0: a power cut that
	// loses everything it may, 1: none).
	Keep float64
	// Tear is the chance a write that is not kept whole is torn (some
	// of its 512-byte sectors kept) rather than lost.
	Tear float64
}

// Image is the files and directories a power cut could leave.
type Image struct {
	Dirs  []string
	Files map[string][]byte
	Lost  int // non-durable ops dropped or torn
	Kept  int // non-durable ops kept whole
}

const sector = 512

// Image builds, from the ops before mark (its op excluded), one state a
// power cut there could leave: every op made durable by a sync at or
// before the mark kept, each other op kept whole, torn or lost at random
// (rng, loss).
func (r *Record) Image(mark int, rng *rand.Rand, loss Loss) (*Image, error) {
	r.mu.Lock()
	end, ok := r.marks[mark]
	ops := r.ops[:end:end]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("powerfs: no mark %d", mark)
	}
	// The last sync of each file and directory before the end: an op
	// before it is durable.
	lastFsync := map[int]int{}
	lastDirSync := map[string]int{}
	// An op a failed fsync should have covered (written since the
	// file's last sync) is never durable: the kernel dropped it from its
	// writeback (fsyncgate), whatever syncs follow.
	poisoned := map[int]bool{}
	pending := map[int][]int{}
	// So is an entry (a create, link, unlink, rename) a failed fsync of
	// its directory should have covered: what that writeback left is
	// unknown (ext4 aborts its journal; no later fsync promises to write
	// the entry again), so it may or may not survive the power cut.
	pendingDir := map[string][]int{}
	for i, o := range ops {
		switch o.Kind {
		case OpWrite, OpTruncate, OpAlloc:
			pending[o.File] = append(pending[o.File], i)
		case OpCreate, OpMkdir, OpLink, OpUnlink:
			pendingDir[o.Dir] = append(pendingDir[o.Dir], i)
		case OpRename:
			pendingDir[o.Dir] = append(pendingDir[o.Dir], i)
			if o.Dir2 != o.Dir {
				pendingDir[o.Dir2] = append(pendingDir[o.Dir2], i)
			}
		case OpFsync:
			lastFsync[o.File] = i
			pending[o.File] = nil
		case OpFsyncFail:
			for _, j := range pending[o.File] {
				poisoned[j] = true
			}
			pending[o.File] = nil
		case OpFsyncDir:
			lastDirSync[o.Dir] = i
			pendingDir[o.Dir] = nil
		case OpFsyncDirFail:
			for _, j := range pendingDir[o.Dir] {
				poisoned[j] = true
			}
			pendingDir[o.Dir] = nil
		}
	}
	dirDurable := func(i int, dir string) bool {
		j, ok := lastDirSync[dir]
		return ok && j > i && !poisoned[i]
	}
	durable := func(i int, o Op) bool {
		switch o.Kind {
		case OpWrite, OpTruncate, OpAlloc:
			j, ok := lastFsync[o.File]
			return ok && j > i && !poisoned[i]
		case OpCreate, OpMkdir, OpLink, OpUnlink:
			return dirDurable(i, o.Dir)
		case OpRename:
			return dirDurable(i, o.Dir) && dirDurable(i, o.Dir2)
		}
		return true
	}
	im := &Image{Files: map[string][]byte{}}
	files := map[int][]byte{}
	entries := map[string]int{} // path -> file
	dirs := map[string]bool{"": true}
	for i, o := range ops {
		if o.Kind >= OpFsync { // syncs, marks and failed syncs change no file
			continue
		}
		keep, torn := true, false
		if !durable(i, o) {
			if rng.Float64() < loss.Keep {
				im.Kept++
			} else {
				im.Lost++
				keep = false
				torn = o.Kind == OpWrite && rng.Float64() < loss.Tear
			}
		}
		if !keep && !torn {
			continue
		}
		switch o.Kind {
		case OpWrite:
			b := files[o.File]
			for at := int64(0); at < int64(len(o.Data)); {
				// The sector of the file this byte is in, to its end or
				// the write's.
				n := min(sector-(o.Off+at)%sector, int64(len(o.Data))-at)
				if !torn || rng.IntN(2) == 0 {
					off := o.Off + at
					if need := off + n; int64(len(b)) < need {
						b = append(b, make([]byte, need-int64(len(b)))...)
					}
					copy(b[off:off+n], o.Data[at:at+n])
				}
				at += n
			}
			files[o.File] = b
		case OpTruncate:
			b := files[o.File]
			if o.Size <= int64(len(b)) {
				files[o.File] = b[:o.Size]
			} else {
				files[o.File] = append(b, make([]byte, o.Size-int64(len(b)))...)
			}
		case OpAlloc:
			if b := files[o.File]; o.Size > int64(len(b)) {
				files[o.File] = append(b, make([]byte, o.Size-int64(len(b)))...)
			}
		case OpCreate, OpLink:
			if dirs[o.Dir] {
				entries[filepath.Join(o.Dir, o.Name)] = o.File
			}
		case OpMkdir:
			if dirs[o.Dir] {
				dirs[filepath.Join(o.Dir, o.Name)] = true
			}
		case OpUnlink:
			delete(entries, filepath.Join(o.Dir, o.Name))
		case OpRename:
			from, to := filepath.Join(o.Dir, o.Name), filepath.Join(o.Dir2, o.Name2)
			if f, ok := entries[from]; ok && dirs[o.Dir2] {
				delete(entries, from)
				entries[to] = f
			}
		}
	}
	for d := range dirs {
		if d != "" {
			im.Dirs = append(im.Dirs, d)
		}
	}
	sort.Strings(im.Dirs)
	for p, f := range entries {
		im.Files[p] = append([]byte(nil), files[f]...)
	}
	return im, nil
}

// WriteTo makes the image's directories and files under dir.
func (im *Image) WriteTo(dir string) error {
	for _, d := range im.Dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for p, b := range im.Files {
		if err := os.WriteFile(filepath.Join(dir, p), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
