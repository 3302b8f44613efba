package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/human"
	"github.com/ckpt-go/ckpt/web"
)

// TestH137StatsPageFileSizeOnDisk: the stats page called what bbolt's
// pages reach "file" ("file 52.0 KiB" beside a 92 KiB file that ls and
// 'ckpt stats' show): it gives the size on disk as the file, and the
// pages' size as what bbolt uses of it, as 'ckpt stats' does.
func TestH137StatsPageFileSizeOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grown.db")
	// No log: nothing applies writes in the background, so the file's
	// size stays what it was when the page was built.
	store, err := ckpt.Open(path, ckpt.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	for i := range 40 {
		if _, err := store.Save(t.Context(), "t", map[string]any{"text": strings.Repeat("x", 200*i)}, ckpt.Metadata{"step": i}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, body := newClient(t, web.Handler(store, web.Options{})).get("/stats")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, used := human.Bytes(fi.Size()), human.Bytes(st.FileBytes)
	if onDisk == used {
		t.Fatalf("the file (%d bytes) is as large as its pages reach (%d): the test needs bbolt to have grown it ahead", fi.Size(), st.FileBytes)
	}
	if want := "file " + onDisk + " on disk"; !strings.Contains(body, want) {
		t.Errorf("the stats page does not say %q (the file is %d bytes, its pages reach %d):\n%s", want, fi.Size(), st.FileBytes, body)
	}
	if want := used + " used by bbolt"; !strings.Contains(body, want) {
		t.Errorf("the stats page does not say %q:\n%s", want, body)
	}
}

// TestH137DiffNamesCheckpointsAsTheCLIDoes: the diff page said "(step
// null, "human")" of a checkpoint whose metadata has no step, where 'ckpt
// diff' says "(step -, human)": a missing key is "-", a string is shown
// as it is, as in the thread page's cells and the command's.
func TestH137DiffNamesCheckpointsAsTheCLIDoes(t *testing.T) {
	store, err := ckpt.Open(filepath.Join(t.TempDir(), "diff.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	a, err := store.Save(t.Context(), "t", map[string]any{"x": 1}, ckpt.Metadata{"node": "agent", "step": 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Save(t.Context(), "t", map[string]any{"x": 2}, ckpt.Metadata{"node": "human"})
	if err != nil {
		t.Fatal(err)
	}
	code, body := newClient(t, web.Handler(store, web.Options{})).get("/diff" + q("t", "t", "a", a, "b", b))
	if code != 200 {
		t.Fatalf("diff page: %d\n%s", code, body)
	}
	for _, want := range []string{a + "</a> (step 2, agent)", b + "</a> (step -, human)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the diff page does not say %q:\n%s", want, body)
		}
	}
}
