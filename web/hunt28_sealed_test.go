package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestSealedValuesWithoutTheKey: the browser over an encrypted store opened
// without its keys (ckpt ui without --key, or a program that mounts the
// handler on such a handle). A checkpoint's page answered 500 Internal
// Server Error for any channel or pending write it could not open, so
// nothing of the checkpoint could be seen, though its versions, sizes,
// metadata and tasks are readable. The page shows them with each sealed
// value said to be sealed; a page that is only that value (value, diff)
// answers 403: the caller lacks the key, the server is fine.
func TestSealedValuesWithoutTheKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sealed.db")
	keys := &ckpt.Encryption{Keys: []ckpt.Key{{ID: 7, Secret: [32]byte{1, 2, 3}}}}
	s, err := ckpt.Open(path, ckpt.Options{Encryption: keys})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Save(ctx, "t", map[string]any{"secret": "first", "n": 1}, ckpt.Metadata{"node": "planner-node"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(ctx, "t", map[string]any{"secret": "second", "n": 2}, ckpt.Metadata{"node": "writer-node"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "t", CheckpointID: b}, []ckpt.Write{{Channel: "w", Value: "sealed write"}}, "task-x", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	on := newClient(t, web.Handler(s, web.Options{}))
	code, page := on.get("/checkpoint" + q("t", "t", "id", b))
	if code != 200 {
		t.Fatalf("checkpoint page without the key: %d, want 200\n%s", code, errorText(page))
	}
	for _, want := range []string{"secret", "task-x", "key 7 is not among the keys given"} {
		if !strings.Contains(page, want) {
			t.Errorf("checkpoint page without the key: %q not on it", want)
		}
	}
	for _, bad := range []string{"first", "second", "sealed write"} {
		if strings.Contains(page, bad) {
			t.Errorf("checkpoint page without the key shows %q", bad)
		}
	}
	for _, p := range []string{
		"/value" + q("t", "t", "id", b, "ch", "secret"),
		"/diff" + q("t", "t", "a", a, "b", b),
	} {
		code, page := on.get(p)
		if code != 403 || !strings.Contains(page, "key 7 is not among the keys given") {
			t.Errorf("%s without the key: %d %s, want 403 naming the key", p, code, errorText(page))
		}
	}
}
