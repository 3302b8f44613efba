package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The stats page of an encrypted store did not say it was one.
func TestStatsPageSaysTheStoreIsEncrypted(t *testing.T) {
	db := filepath.Join(t.TempDir(), "enc.db")
	keys := &ckpt.Encryption{Keys: []ckpt.Key{{ID: 7, Secret: [32]byte{5}}}}
	s, err := ckpt.Open(db, ckpt.Options{Encryption: keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), "t", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*ckpt.Encryption{keys, nil} {
		s, err := ckpt.Open(db, ckpt.Options{ReadOnly: true, Encryption: e})
		if err != nil {
			t.Fatal(err)
		}
		code, body := newClient(t, web.Handler(s, web.Options{})).get("/stats")
		if code != 200 || !strings.Contains(body, "encrypted") || !strings.Contains(body, "key 7") {
			t.Errorf("stats page (keys given: %v): %d, does not say the store is encrypted under key 7", e != nil, code)
		}
		s.Close()
	}
	f := newFixture(t)
	if _, body := newClient(t, web.Handler(f.store, web.Options{})).get("/stats"); strings.Contains(body, "encrypted") {
		t.Errorf("the stats page of a plain store speaks of encryption")
	}
}
