package ckpt_test

// Helper 170's hunt: forward seeks over a damaged branch key (helper-164
// checked the backward seek). bbolt keeps no checksum of a branch page; a
// read-write Open compares each branch key with its child's first key and
// refuses the file, a read-only handle (`ckpt log`, `ckpt verify`, the
// browser) reads through it. A forward Seek picks the child by the branch
// keys: one lowered sends a seek for a key the child before holds into the
// child after, which lands past it; one raised sends a seek into the
// child before, whose keys are all below it, and the cursor steps on to
// the next child's first key, below the key sought.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// h170Tree is a bucket's root page in a file read whole: a branch page
// whose children are leaves.
type h170Tree struct {
	file     []byte
	pageSize int
	root     []byte
}

// h170Root reads the file at path and finds the root page of the bucket
// bucket returns; it must be a branch of 3 or more leaves.
func h170Root(t *testing.T, path string, bucket func(tx *bolt.Tx) *bolt.Bucket) h170Tree {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	pageSize := db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error { root = uint64(bucket(tx).Root()); return nil })
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := h170Tree{file: file, pageSize: pageSize, root: file[int(root)*pageSize:]}
	if flags, n := binary.LittleEndian.Uint16(tr.root[8:]), tr.children(); flags != 0x01 || n < 3 {
		t.Fatalf("root page %d: flags %#x, %d elements; want a branch of 3 or more", root, flags, n)
	}
	for i := range tr.children() {
		if flags := binary.LittleEndian.Uint16(tr.child(i)[8:]); flags != 0x02 {
			t.Fatalf("child %d: flags %#x, want a leaf", i, flags)
		}
	}
	return tr
}

func (tr h170Tree) children() int { return int(binary.LittleEndian.Uint16(tr.root[10:])) }

// branchKey is the key of the root's element i, aliasing the file.
func (tr h170Tree) branchKey(i int) []byte {
	e := 16 + 16*i
	pos, ksize := binary.LittleEndian.Uint32(tr.root[e:]), binary.LittleEndian.Uint32(tr.root[e+4:])
	return tr.root[e+int(pos) : e+int(pos)+int(ksize)]
}

func (tr h170Tree) child(i int) []byte {
	return tr.file[int(binary.LittleEndian.Uint64(tr.root[16+16*i+8:]))*tr.pageSize:]
}

// leafKeys are the keys of the root's child i.
func (tr h170Tree) leafKeys(i int) (keys [][]byte) {
	p := tr.child(i)
	for j := range int(binary.LittleEndian.Uint16(p[10:])) {
		e := 16 + 16*j
		pos, ksize := binary.LittleEndian.Uint32(p[e+4:]), binary.LittleEndian.Uint32(p[e+8:])
		keys = append(keys, slices.Clone(p[e+int(pos):e+int(pos)+int(ksize)]))
	}
	return keys
}

func (tr h170Tree) write(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(p, tr.file, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestForwardSeekOverALoweredThreadsBranchKey: Threads reads its summaries
// 32 threads a transaction, each page seeking past the last name of the
// one before. The key of the threads bucket's child after the one holding
// that name, lowered to the name, sends the seek into that child: it
// landed on the child's first thread and passed over the threads between,
// a listing short of threads with no error.
func TestForwardSeekOverALoweredThreadsBranchKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h164IndexStore(t)
	threads := func(p string) (names []string, err error) {
		s, err := ckpt.Open(p, ckpt.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		for ti, err := range s.Threads(ctx) {
			if err != nil {
				return names, err
			}
			names = append(names, ti.ThreadID)
		}
		return names, nil
	}
	want, err := threads(path)
	if err != nil || len(want) != 300 {
		t.Fatalf("clean file: %d threads, %v", len(want), err)
	}
	tr := h170Root(t, path, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket([]byte("threads")) })
	// A page boundary inside a child, not its last key: the seek past it
	// has keys to pass over in that child.
	damaged := ""
	for after := 31; after < len(want)-1 && damaged == ""; after += 32 {
		for c := range tr.children() - 1 {
			keys := tr.leafKeys(c)
			i := slices.IndexFunc(keys, func(k []byte) bool { return string(k) == want[after] })
			if i < 0 || i == len(keys)-1 {
				continue
			}
			bk := tr.branchKey(c + 1)
			if len(bk) != len(want[after]) {
				t.Fatalf("branch key %q, thread name %q: lengths differ", bk, want[after])
			}
			copy(bk, want[after])
			damaged = tr.write(t)
			break
		}
	}
	if damaged == "" {
		t.Fatal("no page boundary of Threads falls inside a child of the threads bucket")
	}
	got, err := threads(damaged)
	if err == nil && !slices.Equal(got, want) {
		t.Fatalf("Threads of the damaged file: %d threads and no error; the file holds %d", len(got), len(want))
	}
	if err != nil && !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("Threads of the damaged file: %v, want ErrCorrupt", err)
	}
	if !slices.Equal(got, want[:len(got)]) {
		t.Fatalf("Threads of the damaged file yields %d threads, not the file's first %d, before %v", len(got), len(got), err)
	}
}

// TestForwardSeekOverARaisedCheckpointBranchKey: a thread of 300
// checkpoints in namespace "" and 3 in "b", whose cp/ bucket's last child
// starts with keys of "" and holds those of "b". Its branch key raised
// into "b"'s keys sends a seek for "b"'s prefix into the child before,
// which holds none; the cursor steps on to the last child's first key, of
// "", and the scan for "b"'s prefix ended there: ResolveID of a "b"
// checkpoint was ErrNotFound.
func TestForwardSeekOverARaisedCheckpointBranchKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cp.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	put := func(cfg ckpt.Config, step int) ckpt.Config {
		t.Helper()
		v := fmt.Sprint(step + 1)
		cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": v}}
		cfg, err := s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step}, map[string]string{"n": v})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := ckpt.Config{ThreadID: "r"}
	for step := range 300 {
		cfg = put(cfg, step)
	}
	var bIDs []string
	cfg = ckpt.Config{ThreadID: "r", CheckpointNS: "b"}
	for step := range 3 {
		cfg = put(cfg, step)
		bIDs = append(bIDs, cfg.CheckpointID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tr := h170Root(t, path, func(tx *bolt.Tx) *bolt.Bucket {
		return tx.Bucket([]byte("threads")).Bucket([]byte("r")).Bucket([]byte("cp"))
	})
	last := tr.children() - 1
	keys := tr.leafKeys(last)
	if keys[0][1] != 0 || keys[len(keys)-1][1] != 1 {
		t.Fatalf("the last child of r's cp/ runs from %x to %x; want namespace \"\" to \"b\"", keys[0], keys[len(keys)-1])
	}
	bk := tr.branchKey(last)
	copy(bk, "\x00\x01b") // 18 bytes under "b"'s prefix: above the seek for it
	damaged := tr.write(t)

	s, err = ckpt.Open(damaged, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range bIDs {
		got, err := s.ResolveID(ctx, "r", "b", id[:25])
		if err == nil && got != id || err != nil && !errors.Is(err, ckpt.ErrCorrupt) {
			t.Fatalf("ResolveID(%s) of the damaged file: %q, %v; want %s or ErrCorrupt", id[:25], got, err, id)
		}
	}
	h170VerifyReports(t, s)
}

// TestForwardSeekOverALoweredCheckpointBranchKey: a thread of 150
// checkpoints in namespace "b" and 150 in "cc"; the child of its cp/
// bucket that holds the first of "cc" is followed by one of "cc" only,
// whose branch key lowered to just below "cc"'s prefix sends the seek for
// that prefix into it, past the "cc" keys of the child before: ResolveID
// of the first "cc" checkpoint was ErrNotFound.
func TestForwardSeekOverALoweredCheckpointBranchKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cp.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{}
	for _, ns := range []string{"b", "cc"} {
		cfg := ckpt.Config{ThreadID: "r", CheckpointNS: ns}
		for step := range 150 {
			v := fmt.Sprint(step + 1)
			cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": v}}
			if cfg, err = s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step}, map[string]string{"n": v}); err != nil {
				t.Fatal(err)
			}
			ids[ns] = append(ids[ns], cfg.CheckpointID)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tr := h170Root(t, path, func(tx *bolt.Tx) *bolt.Bucket {
		return tx.Bucket([]byte("threads")).Bucket([]byte("r")).Bucket([]byte("cp"))
	})
	prefix := "\x00\x02cc"
	c := -1
	for i := range tr.children() - 1 {
		keys := tr.leafKeys(i)
		if string(keys[0][:4]) != prefix && string(keys[len(keys)-1][:4]) == prefix {
			c = i
		}
	}
	if c < 0 || string(tr.leafKeys(c + 1)[0][:4]) != prefix {
		t.Fatalf("no child of r's cp/ holds the first keys of \"cc\" with one of \"cc\" after it")
	}
	// Just below the prefix (a branch key above the key sought sends the
	// seek to the child before, where it belongs).
	bk := tr.branchKey(c + 1)
	copy(bk, "\x00\x02cb")
	for i := len(prefix); i < len(bk); i++ {
		bk[i] = 0xff
	}
	damaged := tr.write(t)

	s, err = ckpt.Open(damaged, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := ids["cc"][0]
	got, err := s.ResolveID(ctx, "r", "cc", id[:25])
	if err == nil && got != id || err != nil && !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("ResolveID(%s) of the damaged file: %q, %v; want %s or ErrCorrupt", id[:25], got, err, id)
	}
	h170VerifyReports(t, s)
}

// h170VerifyReports: Verify of the damaged file s reports it (bbolt's
// page check finds a child's first key below its branch key, or the
// branch key above the next child's).
func h170VerifyReports(t *testing.T, s *ckpt.Store) {
	t.Helper()
	rep, err := s.Verify(context.Background(), ckpt.VerifyOptions{})
	if err == nil && rep.OK() {
		t.Fatal("Verify of the file with a damaged branch key: OK")
	}
}

// TestForwardSeekOverALoweredThreadsBranchKeyUnderAPrefix: RecentThreads
// with a Prefix counts the threads under it by a walk of the names from
// the prefix on (countThreads: names only, no lookup of each). The key
// of the threads bucket's child after the one holding "t-100", lowered
// below the prefix "t-1", sends the walk's seek into that child, past the
// threads under the prefix the child before holds: a Total short of them
// with no error.
func TestForwardSeekOverALoweredThreadsBranchKeyUnderAPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := h164IndexStore(t)
	tr := h170Root(t, path, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket([]byte("threads")) })
	c := -1
	for i := range tr.children() - 1 {
		keys := tr.leafKeys(i)
		if string(keys[0]) < "t-100" && string(keys[len(keys)-1]) >= "t-100" {
			c = i
		}
	}
	if c < 0 {
		t.Fatal("no child of the threads bucket holds t-100 after its first key, with a child after it")
	}
	copy(tr.branchKey(c+1), "t-0~~") // below "t-1", above every "t-0.."
	damaged := tr.write(t)
	s, err := ckpt.Open(damaged, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.RecentThreads(ctx, ckpt.ThreadQuery{Prefix: "t-1", Limit: 5})
	if err == nil && page.Total != 100 || err != nil && !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("RecentThreads{Prefix: t-1} of the damaged file: Total %d, %v; want 100 or ErrCorrupt", page.Total, err)
	}
}
