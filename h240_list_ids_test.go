package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ListIDs walks a thread's history order as List selects it (namespace,
// before, limit, newest first, across more than one of its pages), and
// goes on past a checkpoint whose value is damaged, where List stops.
func TestH240ListIDsGoesPastADamagedCheckpoint(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ids.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-OF-THE-DAMAGED-VALUE"
	var all, sub []Config // newest first
	n := listIDsPage + 100
	for i := range n {
		v := any(i)
		if i == n-3 {
			v = marker
		}
		id, err := s.Save(ctx, "th", map[string]any{"v": v}, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append([]Config{{ThreadID: "th", CheckpointID: id}}, all...)
		if i%100 == 0 {
			c, err := s.Put(ctx, Config{ThreadID: "th", CheckpointNS: "sub"}, Checkpoint{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			all = append([]Config{c}, all...)
			sub = append([]Config{c}, sub...)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(file, []byte(marker)) != 1 {
		t.Fatalf("the marker is in the file %d times, want 1", bytes.Count(file, []byte(marker)))
	}
	if err := os.WriteFile(path, bytes.Replace(file, []byte(marker), []byte(strings.ToLower(marker)), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, err := range ro.List(ctx, ListOptions{ThreadID: "th", Namespace: NS("")}) {
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("List: %v, want ErrCorrupt", err)
			}
			break
		}
	}
	ids := func(opts ListOptions) []Config {
		t.Helper()
		var got []Config
		for c, err := range ro.ListIDs(ctx, opts) {
			if err != nil {
				t.Fatalf("ListIDs %+v: %v", opts, err)
			}
			got = append(got, c)
		}
		return got
	}
	var root []Config
	for _, c := range all {
		if c.CheckpointNS == "" {
			root = append(root, c)
		}
	}
	for _, tc := range []struct {
		name string
		opts ListOptions
		want []Config
	}{
		{"all", ListOptions{ThreadID: "th"}, all},
		{"root", ListOptions{ThreadID: "th", Namespace: NS("")}, root},
		{"sub", ListOptions{ThreadID: "th", Namespace: NS("sub")}, sub},
		{"limit", ListOptions{ThreadID: "th", Limit: 5}, all[:5]},
		{"before", ListOptions{ThreadID: "th", Namespace: NS(""), Before: root[1].CheckpointID, Limit: 3}, root[2:5]},
		{"before in all", ListOptions{ThreadID: "th", Before: all[len(all)-2].CheckpointID}, all[len(all)-1:]},
		{"unknown thread", ListOptions{ThreadID: "nope"}, nil},
	} {
		if got := ids(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d ids, want %d (first %v, want %v)", tc.name, len(got), len(tc.want), got[:min(2, len(got))], tc.want[:min(2, len(tc.want))])
		}
	}
	for _, opts := range []ListOptions{{}, {ThreadID: "th", Filter: map[string]any{"a": 1}}, {ThreadID: "th", Before: "zz"}} {
		var errs []error
		for _, err := range ro.ListIDs(ctx, opts) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrInvalidConfig) {
			t.Errorf("ListIDs %+v: %v, want one ErrInvalidConfig", opts, errs)
		}
	}
}
