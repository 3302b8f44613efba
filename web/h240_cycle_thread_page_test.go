package web_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
	bolt "go.etcd.io/bbolt"
)

// The thread page of a thread whose value bucket's pages lead into a
// cycle (its header, in the thread bucket's leaf page, names that page as
// its root; cmd/ckpt's TestH240CLIOnAPageCycleNamesTheThreadAndSavesThe
// Others makes the same file): a read-only Open keeps the file beside the
// damage, and the page draws every checkpoint of the thread as a damaged
// row, with the hint, where it answered one error; another thread's page
// is sound.
func TestH240ThreadPageOfAPageCycleThread(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 40 {
		doc := strings.Repeat(fmt.Sprintf("b doc %d|", i), 2<<10/8) // 2 KiB, a new value each
		id, err := s.Save(ctx, "b", map[string]any{"doc": doc}, ckpt.Metadata{"step": i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := s.Save(ctx, "a", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var holder, root uint64
	pageSize := db.Info().PageSize
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("threads")).Bucket([]byte("b"))
		holder, root = uint64(b.Root()), uint64(b.Bucket([]byte("bl")).Root())
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil || root == 0 {
		t.Fatalf("b's value bucket: root %d, %v", root, err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A leaf page: id, flags, count, overflow (16 bytes), then elements
	// of flags, pos, ksize, vsize; a bucket's value starts with its root.
	pg := file[int(holder)*pageSize:]
	if binary.LittleEndian.Uint16(pg[8:]) != 0x02 {
		t.Fatalf("page %d is not a leaf page", holder)
	}
	found := false
	for i := range int(binary.LittleEndian.Uint16(pg[10:])) {
		e := pg[16+16*i:]
		pos, ksize := binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[8:])
		if string(e[pos:pos+ksize]) == "bl" && binary.LittleEndian.Uint64(e[pos+ksize:]) == root {
			binary.LittleEndian.PutUint64(e[pos+ksize:], holder)
			found = true
		}
	}
	if !found {
		t.Fatal("no header of b's value bucket in its thread's leaf page")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	c := newClient(t, web.Handler(ro, web.Options{}))
	code, body := c.get("/thread" + q("t", "b", "limit", "100"))
	text := html.UnescapeString(body)
	if code != 200 || !strings.Contains(text, "ckpt verify "+path) {
		t.Fatalf("GET /thread?t=b: %d, want 200 with the ckpt verify hint\n%.2000s", code, text)
	}
	if n := strings.Count(body, `<tr class="cp damaged">`); n != len(ids) {
		t.Errorf("%d damaged rows, want %d (every checkpoint of b)", n, len(ids))
	}
	for _, id := range ids {
		if !strings.Contains(body, `title="`+id+`"`) {
			t.Errorf("checkpoint %s is not on the page", id)
		}
	}
	if !strings.Contains(text, "a cycle of pages") {
		t.Errorf("the page does not say what is damaged (a cycle of pages)")
	}
	if code, body := c.get("/thread" + q("t", "a")); code != 200 || strings.Contains(body, "damaged") {
		t.Errorf("GET /thread?t=a: %d, or damage on the sound thread", code)
	}
}
