package ckpt

// An import a killed process left unfinished is rolled back by the next
// read-write Open and hidden until then by a read-only handle: both find
// its threads by its marks (imports/<id>/<thread>). One damaged byte of
// those marks — a thread's name in them, the import's bucket name, the
// "imports" bucket's name or its page and bucket headers — must not make
// the import's threads read as the file's own: they are hidden, rolled
// back or refused with ErrCorrupt, never listed or read with no error
// (h31-oldfmt found such a thread read with no error: a mark renamed).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// killedImportFile returns the bytes of a store file (its own thread
// "keep") as an import killed in its second thread left it, and the
// import's id: the file is copied while the import runs, without the
// write-ahead log so that the file holds every batch committed.
func killedImportFile(t *testing.T) ([]byte, [idLen]byte) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"imp-a", "imp-b", "imp-c"} {
		putChain(t, src, th, "", 3)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dst.db")
	s, err := Open(path, Options{Durability: NoSync, NoWAL: true, tuning: &tuning{importBatchRecords: 4}})
	if err != nil {
		t.Fatal(err)
	}
	putChain(t, s, "keep", "", 3)
	var snap []byte
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err = s.Import(ictx, &dump, ImportOptions{Progress: func(n int64) {
		if n >= 16 && snap == nil { // into the second thread
			b, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
			}
			snap = b
			cancel() // the import rolls back; the copy keeps it unfinished
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Import = %v, want it cancelled", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if snap == nil {
		t.Fatal("the import ended before its second thread")
	}
	// The import's id: the one bucket under imports/ in the copy.
	p := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(p, snap, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var id [idLen]byte
	var ids, marks int
	if err := ro.eng.View(ctx, func(r reader) error {
		return r.Buckets(importsRoot, nil, func(name []byte) error {
			ids++
			copy(id[:], name)
			return r.Scan(importPath(id), nil, nil, false, func(k, _ []byte) error { marks++; return nil })
		})
	}); err != nil {
		t.Fatal(err)
	}
	if ids != 1 || marks < 2 {
		t.Fatalf("the copy holds %d unfinished imports, %d marks; want one import marking two threads or more", ids, marks)
	}
	return snap, id
}

// importMarkBytes returns the offsets in the store file at path (data)
// of the bytes that record its unfinished import id: on the root bucket's
// page and the imports bucket's, every element (header, key and value,
// which for a bucket is its header and any inline page) named "imports",
// named id, or a mark (a key starting "imp-" that is no bucket), and the
// headers of those pages.
func importMarkBytes(t *testing.T, path string, data []byte, id [idLen]byte) []int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	live := map[int]bool{}
	err = db.View(func(tx *bolt.Tx) error {
		live[int(tx.Cursor().Bucket().Root())] = true
		if b := tx.Bucket(bucketImports); b != nil {
			live[int(b.Root())] = true
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	seen := map[int]bool{}
	var out []int
	add := func(from, n int) {
		for i := from; i < from+n && i < len(data); i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	for _, pg := range boltPages(data) {
		if pg.flags != 0x02 || !live[pg.off/ps] {
			continue
		}
		onPage := false
		for _, e := range boltElems(data, pg) {
			key := data[e.keyOff : e.keyOff+e.keyLen]
			isBucket := binary.LittleEndian.Uint32(data[e.hdrOff:])&1 != 0
			if !bytes.Equal(key, bucketImports) && !bytes.Equal(key, id[:]) && (isBucket || !bytes.HasPrefix(key, []byte("imp-"))) {
				continue
			}
			if e.hdrOff < pg.off+ps {
				onPage = true
			}
			add(e.hdrOff, 16)
			add(e.keyOff, e.keyLen+e.valLen)
		}
		if onPage {
			add(pg.off, 16)
		}
	}
	return out
}

func TestUnfinishedImportWithADamagedMarkIsNeverRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, id := killedImportFile(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	offs := importMarkBytes(t, p, data, id)
	t.Logf("%d bytes of the marks", len(offs))
	if len(offs) < 50 {
		t.Fatalf("found %d bytes of the import's marks", len(offs))
	}
	imported := func(thread string) bool { return strings.HasPrefix(thread, "imp-") }
	// readsImport runs the reads on s and returns the first that returned
	// a thread of the import with no error.
	readsImport := func(s *Store) string {
		for info, err := range s.Threads(ctx) {
			if err != nil {
				break
			}
			if imported(info.ThreadID) {
				return "Threads lists " + info.ThreadID
			}
		}
		for tp, err := range s.List(ctx, ListOptions{}) {
			if err != nil {
				break
			}
			if imported(tp.Config.ThreadID) {
				return "List yields a checkpoint of " + tp.Config.ThreadID
			}
		}
		for _, th := range []string{"imp-a", "imp-b", "imp-c"} {
			if tp, err := s.GetTuple(ctx, Config{ThreadID: th}); err == nil {
				return fmt.Sprintf("GetTuple(%s) returns checkpoint %s", th, tp.Config.CheckpointID)
			}
			for tp, err := range s.List(ctx, ListOptions{ThreadID: th}) {
				if err == nil {
					return fmt.Sprintf("List(%s) yields checkpoint %s", th, tp.Config.CheckpointID)
				}
				break
			}
		}
		return ""
	}
	// refuses tells whether a read on s is refused as damaged.
	refuses := func(s *Store) bool {
		for _, err := range s.List(ctx, ListOptions{}) {
			if errors.Is(err, ErrCorrupt) {
				return true
			}
		}
		_, err := s.GetTuple(ctx, Config{ThreadID: "keep"})
		return errors.Is(err, ErrCorrupt)
	}
	failures := 0
	keep := raceSample(t, 3) // a third under -race (CI time: about 4 s), all in the plain command
	for i, off := range offs {
		if !keep(i) || (testing.Short() && i%3 != 0) {
			continue
		}
		// One change a byte (CI time): minus one takes a flag off, a
		// count or a length one short, a name to another.
		for _, change := range []func(byte) byte{func(b byte) byte { return b - 1 }} {
			b := bytes.Clone(data)
			old := b[off]
			b[off] = change(old)
			what := fmt.Sprintf("byte %d (page %d +%d): %#02x -> %#02x", off, off/os.Getpagesize(), off%os.Getpagesize(), old, b[off])
			_ = os.Remove(p + walSuffix)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				s, err := Open(p, Options{ReadOnly: ro, Durability: NoSync})
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s: Open (read-only %v) = %v, want a store or ErrCorrupt", what, ro, err)
						failures++
					}
					continue
				}
				if got := readsImport(s); got != "" {
					t.Errorf("%s: read-only %v: %s, with no error", what, ro, got)
					failures++
				}
				if refuses(s) {
					rep, err := s.Verify(ctx, VerifyOptions{})
					if err == nil && rep.OK() {
						t.Errorf("%s: read-only %v: reads are ErrCorrupt, Verify finds nothing", what, ro)
						failures++
					}
				}
				if err := s.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: Close: %v", what, err)
				}
			}
			if failures > 20 {
				t.Fatal("too many failures")
			}
		}
	}
}

// TestImportMarksOfARollbackHalfDone: the list of unfinished imports
// keeps naming a thread still marked while a rollback runs, so that the
// marks of a rollback cut short, damage then hiding them, are still told
// from the entry an older build leaves (it rolls the import back, drops
// its marks and keeps the entry): the first is ErrCorrupt, the second
// reads as the store and the next read-write Open removes it.
func TestImportMarksOfARollbackHalfDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, id := killedImportFile(t)
	dir := t.TempDir()
	// edited is a copy of data that fn changed in a bbolt transaction.
	edited := func(name string, fn func(w writer) error) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return fn(engine.NewBoltView(tx)) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var marked []string
	edited("look.db", func(w writer) error {
		return w.Scan(importPath(id), nil, nil, false, func(k, _ []byte) error { marked = append(marked, string(k)); return nil })
	})
	// This build's rollback, cut short after the first thread (its
	// first), then the import's bucket lost to damage.
	half := edited("half.db", func(w writer) error {
		if err := deleteThread(w, marked[0]); err != nil {
			return err
		}
		if err := unmarkImport(w, id, marked[0]); err != nil {
			return err
		}
		return w.DropBucket(importPath(id))
	})
	for _, ro := range []bool{true, false} {
		s, err := Open(half, Options{ReadOnly: ro})
		if err == nil {
			for info, terr := range s.Threads(ctx) {
				if err = terr; err != nil {
					break
				}
				if info.ThreadID == marked[1] {
					t.Errorf("read-only %v: the import's bucket lost after half its rollback: Threads lists %s", ro, info.ThreadID)
				}
			}
			if rep, verr := s.Verify(ctx, VerifyOptions{}); ro && (verr != nil || rep.OK()) {
				t.Errorf("read-only: Verify = %v, %v; want the import reported", rep.Problems, verr)
			}
			s.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("read-only %v: the import's bucket lost after half its rollback: %v, want ErrCorrupt", ro, err)
		}
	}
	// An older build's rollback: threads and marks gone, the entry kept.
	old := edited("old.db", func(w writer) error {
		for _, th := range marked {
			if err := deleteThread(w, th); err != nil {
				return err
			}
		}
		return w.DropBucket(importPath(id))
	})
	for _, ro := range []bool{true, false, true} {
		s, err := Open(old, Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("read-only %v: the entry an older build's rollback left: %v", ro, err)
		}
		if got := storeState(t, s); len(got) != 3 {
			t.Errorf("read-only %v: %d checkpoints, want keep's 3", ro, len(got))
		}
		if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
			t.Errorf("read-only %v: Verify = %v, %v", ro, rep.Problems, err)
		}
		var list []byte
		if err := s.viewDamaged(ctx, func(r reader) error { list = r.Get(bucketPath{bucketMeta}, keyImports); return nil }); err != nil {
			t.Fatal(err)
		}
		if !ro && list != nil {
			t.Error("a read-write Open kept the entry of an import rolled back")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
