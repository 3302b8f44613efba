package ckpt

// H253: every call of a read-write store whose file was damaged UNDER it
// (bbolt's map is the file's pages: bytes written to the file while the
// store is open are what its next transaction reads). A read-write Open
// refuses a damaged file, so the hunts before damaged closed files; a
// page that turns bad while the store is open was met by calls that run
// in the commit loop (runSolo does not recover: Compact, backups) or on
// the caller's goroutine outside a guard, and the process died
// (TestH251BackupOverARootDamagedUnderTheOpenStoreReturns). Each case
// runs in a child process, so a death is a failed case: the child opens
// a copy of a built store, writes (binding its log) and applies, damages
// a page of its own file, runs the call, a Save, and Close, and prints
// what each returned.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	h253CaseEnv = "CKPT_H253_CASE" // mode/damage/call
	h253PathEnv = "CKPT_H253_PATH" // the store's file (a copy of the mode's built one)
)

var (
	h253Modes   = []string{"wal", "held", "nowal", "sealed"}
	h253Damages = []string{"root", "threads-root", "thread-leaf", "freelist", "meta-root", "meta-both", "threads-count", "leaf-count", "blob-leaf", "leaf-overflow"}
	h253Calls   = []string{"Compact", "BackupFile", "Backup", "Rekey", "CheckRekey", "GC", "Prune", "DeleteThread",
		"DeleteForRuns", "CopyThread", "Import", "Export", "Verify", "Stats", "Threads", "RecentThreads", "ListIDs",
		"GetTuple", "List", "ApplyLog", "Flush", "none"}
)

// h253Opts: sealed is written under key 1 and opened with key 2 newest
// (a Rekey has work to do); held keeps its background applier from
// running (the log's groups are applied over the damage by the call:
// in the commit loop before a solo op, by a backup's hold, by Close).
func h253Opts(mode string, build bool) Options {
	switch mode {
	case "held":
		if !build {
			tune := tuning{}
			tune.hooks.HoldApplier = true
			return Options{tuning: &tune}
		}
	case "nowal":
		return Options{NoWAL: true}
	case "sealed":
		if build {
			return Options{Encryption: &Encryption{Keys: []Key{testKey(1, 7)}}}
		}
		return Options{Encryption: &Encryption{Keys: []Key{testKey(2, 9), testKey(1, 7)}}}
	}
	return Options{}
}

// h253Build writes threads t0..t2 (40 checkpoints each, three
// namespaces) at path and compacts it.
func h253Build(t *testing.T, path, mode string) {
	t.Helper()
	ctx := context.Background()
	o := h253Opts(mode, true)
	o.Durability = NoSync
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"t0", "t1", "t2"} {
		for _, ns := range []string{"", "a", "b"} {
			for i := range 14 {
				if _, err := s.Save(ctx, th, map[string]any{"ns": ns, "i": i, "pad": strings.Repeat("x", 200)}, Metadata{"ns": ns}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := s.Compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// h253Damage damages the file at path (open in this process) as damage
// says; false: the file has no such page (the case does not apply).
func h253Damage(t *testing.T, path, damage string) bool {
	t.Helper()
	b, f, fh := bwOpenLive(t, path)
	defer fh.Close()
	write := func(off int64, p []byte) {
		if _, err := fh.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	pagesOf := func(owner string, branch bool) []int {
		var ids []int
		for id, p := range f.pages {
			if p.owner == owner && p.branch == branch {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	// The newer meta page (bbolt reads the valid one of the higher txid).
	cur := 0
	if binary.LittleEndian.Uint64(b[f.ps+bwHeader+48:]) > binary.LittleEndian.Uint64(b[bwHeader+48:]) {
		cur = 1
	}
	meta := cur*f.ps + bwHeader
	switch damage {
	case "root":
		// The file's root page: the top buckets' tree, with the inline
		// meta bucket (the log's live mark, the format).
		root := -1
		for id, p := range f.pages {
			if p.owner == "" {
				root = id
			}
		}
		if root < 0 {
			t.Fatal("no root page")
		}
		write(int64(root*f.ps+8), []byte{0, 0})
	case "threads-root":
		owner := bwJoin([]string{"threads"})
		ids := pagesOf(owner, true)
		if len(ids) == 0 {
			ids = pagesOf(owner, false)
		}
		if len(ids) == 0 {
			t.Fatal("no page of the threads bucket")
		}
		// Its root: the page no other page of it points to is the one the
		// walk met first; the lowest id of a compacted file is it.
		write(int64(ids[0]*f.ps+8), []byte{0, 0})
	case "threads-count", "leaf-count":
		// The element count of the page at its most (bbolt reads the
		// elements past the page's end: other pages' bytes, offsets
		// into anywhere of the map or past it).
		owner := bwJoin([]string{"threads"})
		if damage == "leaf-count" {
			owner = bwJoin([]string{"threads", "t1", string(bucketCheckpoints)})
		}
		ids := pagesOf(owner, false)
		if len(ids) == 0 {
			t.Fatalf("no leaf of %s", owner)
		}
		write(int64(ids[len(ids)/2]*f.ps+10), []byte{0xff, 0xff})
	case "leaf-overflow":
		// A high byte of a leaf's overflow count: a commit that frees the
		// page would free billions of page ids.
		ids := pagesOf(bwJoin([]string{"threads", "t1", string(bucketCheckpoints)}), false)
		if len(ids) == 0 {
			t.Fatal("no leaf of t1's checkpoints")
		}
		write(int64(ids[len(ids)/2]*f.ps+15), []byte{0x40})
	case "thread-leaf", "blob-leaf":
		sub := bucketCheckpoints
		if damage == "blob-leaf" {
			sub = bucketBlobs // the sealed values a Rekey re-seals
		}
		ids := pagesOf(bwJoin([]string{"threads", "t1", string(sub)}), false)
		if len(ids) == 0 {
			t.Fatalf("no leaf of t1's %s", sub)
		}
		write(int64(ids[len(ids)/2]*f.ps+8), []byte{0, 0})
	case "freelist":
		fl := binary.LittleEndian.Uint64(b[meta+32:])
		if fl < 2 || int(fl+1)*f.ps > len(b) {
			return false
		}
		write(int64(int(fl)*f.ps+8), []byte{0, 0})
	case "meta-root":
		// A valid meta (its checksum matches) whose root is a leaf of t1's
		// checkpoints: not a bucket tree of the store's.
		ids := pagesOf(bwJoin([]string{"threads", "t1", string(bucketCheckpoints)}), false)
		if len(ids) == 0 {
			t.Fatal("no leaf of t1's checkpoints")
		}
		m := append([]byte(nil), b[meta:meta+64]...)
		binary.LittleEndian.PutUint64(m[16:], uint64(ids[0]))
		h := fnv.New64a()
		h.Write(m[:56])
		binary.LittleEndian.PutUint64(m[56:], h.Sum64())
		write(int64(meta), m)
	case "meta-both":
		// Neither meta page valid: bbolt's meta() panics at the next
		// transaction.
		write(int64(bwHeader), []byte{0, 0, 0, 0})
		write(int64(f.ps+bwHeader), []byte{0, 0, 0, 0})
	default:
		t.Fatalf("damage %q", damage)
	}
	return true
}

// h253Run runs call on s.
func h253Run(ctx context.Context, s *Store, call, dir string) error {
	drain := func(seq func(func(any, error) bool)) error {
		var last error
		seq(func(_ any, err error) bool {
			if err != nil {
				last = err
				return false
			}
			return true
		})
		return last
	}
	switch call {
	case "Compact":
		_, err := s.Compact(ctx, nil)
		return err
	case "BackupFile":
		return s.BackupFile(ctx, filepath.Join(dir, "b.db"))
	case "Backup":
		return s.Backup(ctx, io.Discard)
	case "Rekey":
		_, err := s.Rekey(ctx)
		return err
	case "CheckRekey":
		return s.CheckRekey(ctx)
	case "DeleteForRuns":
		return s.DeleteForRuns(ctx, []string{"r1", "r2"})
	case "RecentThreads":
		_, err := s.RecentThreads(ctx, ThreadQuery{})
		return err
	case "GetTuple":
		var errs []error
		for _, th := range []string{"t0", "t1", "t2"} {
			if _, err := s.GetTuple(ctx, Config{ThreadID: th}); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	case "List":
		return drain(func(yield func(any, error) bool) {
			for tup, err := range s.List(ctx, ListOptions{ThreadID: "t1"}) {
				if !yield(tup, err) {
					return
				}
			}
		})
	case "ApplyLog":
		return s.ApplyLog(ctx)
	case "GC":
		_, err := s.GC(ctx, Policy{KeepLast: 3})
		return err
	case "Prune":
		return s.Prune(ctx, []string{"t0", "t1", "t2"}, PruneKeepLatest)
	case "DeleteThread":
		return errors.Join(s.DeleteThread(ctx, "t1"), s.DeleteThread(ctx, "t0"))
	case "CopyThread":
		return errors.Join(s.CopyThread(ctx, "t1", "c1", CopyOptions{}), s.CopyThread(ctx, "t0", "c0", CopyOptions{}))
	case "Import":
		// A dump of a thread of another store.
		src, err := Open(filepath.Join(dir, "src.db"), Options{NoWAL: true})
		if err != nil {
			return fmt.Errorf("h253 setup: %v", err)
		}
		for i := range 5 {
			if _, err := src.Save(ctx, "imp", map[string]any{"i": i}, nil); err != nil {
				return fmt.Errorf("h253 setup: %v", err)
			}
		}
		var dump bytes.Buffer
		if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
			return fmt.Errorf("h253 setup: %v", err)
		}
		if err := src.Close(); err != nil {
			return fmt.Errorf("h253 setup: %v", err)
		}
		_, err = s.Import(ctx, &dump, ImportOptions{})
		return err
	case "Export":
		_, err := s.Export(ctx, io.Discard, ExportOptions{})
		return err
	case "Verify":
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err == nil && rep != nil && len(rep.Problems) > 0 {
			return fmt.Errorf("%w: verify: %d problems", ErrCorrupt, len(rep.Problems))
		}
		return err
	case "Stats":
		_, err := s.Stats(ctx)
		return err
	case "Threads":
		return drain(func(yield func(any, error) bool) {
			for ti, err := range s.Threads(ctx) {
				if !yield(ti, err) {
					return
				}
			}
		})
	case "ListIDs":
		return drain(func(yield func(any, error) bool) {
			for c, err := range s.ListIDs(ctx, ListOptions{ThreadID: "t1"}) {
				if !yield(c, err) {
					return
				}
			}
		})
	case "Flush":
		return s.Flush(ctx)
	case "none":
		return nil
	}
	return fmt.Errorf("h253: call %q", call)
}

// h253Class names what err is: nil, corrupt (ErrCorrupt), failed
// (ErrFailed), notfound (ErrNotFound) or other.
func h253Class(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	case errors.Is(err, ErrFailed):
		return "failed"
	case errors.Is(err, ErrNotFound):
		return "notfound"
	}
	return "other"
}

// TestH253Child is the child of TestH253CallsOverPagesDamagedUnderTheOpenStore.
func TestH253Child(t *testing.T) {
	c := os.Getenv(h253CaseEnv)
	if c == "" {
		t.Skip("the child of TestH253CallsOverPagesDamagedUnderTheOpenStore")
	}
	p := strings.Split(c, "/")
	mode, damage, call := p[0], p[1], p[2]
	path := os.Getenv(h253PathEnv)
	dir := filepath.Dir(path)
	ctx := context.Background()
	s, err := Open(path, h253Opts(mode, false))
	if err != nil {
		t.Fatal(err)
	}
	// Bound to its log and applied: the damage is then all the file's.
	if _, err := s.Save(ctx, "w", map[string]any{"x": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if mode != "nowal" && mode != "held" {
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !h253Damage(t, path, damage) {
		fmt.Println("H253 skip")
		return
	}
	if mode == "held" {
		// Logged, not applied: to the damaged thread and another.
		for _, th := range []string{"t1", "t0"} {
			if _, err := s.Save(ctx, th, map[string]any{"held": 1}, nil); err != nil {
				fmt.Printf("H253 held-save %s %v\n", h253Class(err), err)
			}
		}
	}
	say := func(step string, err error) {
		msg := ""
		if err != nil {
			msg = strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Printf("H253 %s %s %s\n", step, h253Class(err), msg)
	}
	say("call", h253Run(ctx, s, call, dir))
	_, err = s.Save(ctx, "after", map[string]any{"y": 2}, nil)
	say("save", err)
	say("close", s.Close())
	fmt.Println("H253 done")
}

// TestH253CallsOverPagesDamagedUnderTheOpenStore: for every call and
// damage, on a store with its log, without, and encrypted (every call; a
// Rekey has work there), the child process survives and returns within
// a bound, and each of the call, a Save after it and Close returns nil
// or an ErrCorrupt / ErrFailed error.
func TestH253CallsOverPagesDamagedUnderTheOpenStore(t *testing.T) {
	if testing.Short() {
		t.Skip("a child process a case")
	}
	t.Parallel()
	built := map[string]string{}
	for _, mode := range h253Modes {
		built[mode] = filepath.Join(t.TempDir(), mode+".db")
		h253Build(t, built[mode], mode)
	}
	bin := testchild.Binary()
	for _, mode := range h253Modes {
		for _, damage := range h253Damages {
			for _, call := range h253Calls {
				if (call == "Rekey" || call == "CheckRekey") && mode != "sealed" {
					continue
				}
				name := mode + "/" + damage + "/" + call
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					path := filepath.Join(t.TempDir(), "s.db")
					b, err := os.ReadFile(built[mode])
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, b, 0o600); err != nil {
						t.Fatal(err)
					}
					h253Case(t, bin, name, path)
				})
			}
		}
	}
}

// h253Case runs the child for case name on path and judges what it said.
func h253Case(t *testing.T, bin, name, path string) {
	t.Helper()
	damageChildCase(t, bin, "TestH253Child", "H253", name,
		[]string{h253CaseEnv + "=" + name, h253PathEnv + "=" + path}, "call", "save", "close")
}

// damageChildCase runs the test child of bin (h253's and h254's: each
// case a process, so a call that kills it is a failing case) with env,
// bounds its run, and judges the lines it printed with tag: "skip" (no
// such page), "done" (it finished), "wrong" (an answer not the one read
// before the damage), and per step a class and the error; a step's
// class "other", or "notfound" but for a meta page whose checksum holds
// and whose root is another page (it reads as a store without those
// threads until a write finds the file changed under it), fails it.
func damageChildCase(t *testing.T, bin, child, tag, name string, env []string, steps ...string) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^"+child+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("HUNG: no exit in 2 minutes; said:\n%s", out.String())
	}
	said := map[string][2]string{}
	var wrong []string
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(nil, 1<<20)
	skipped, finished := false, false
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) < 2 || f[0] != tag {
			continue
		}
		switch f[1] {
		case "skip":
			skipped = true
		case "done":
			finished = true
		case "wrong":
			wrong = append(wrong, strings.Join(f[2:], " "))
		default:
			if len(f) >= 3 {
				said[f[1]] = [2]string{f[2], strings.Join(f[3:], " ")}
			}
		}
	}
	if skipped {
		t.Skip("no such page")
	}
	if werr != nil || !finished {
		tail := out.String() + errOut.String()
		if len(tail) > 4000 {
			tail = tail[:2000] + "\n...\n" + tail[len(tail)-2000:]
		}
		t.Fatalf("DIED (%v) after %v:\n%s", werr, said, tail)
	}
	for _, w := range wrong {
		t.Errorf("WRONG: %s", w)
	}
	for _, step := range steps {
		c := said[step]
		t.Logf("%s: %s %s", step, c[0], c[1])
		if c[0] == "other" || (c[0] == "notfound" && !strings.Contains(name, "/meta-root/")) {
			t.Errorf("%s: %s, want nil or ErrCorrupt/ErrFailed", step, c[1])
		}
	}
}
