package redisstore

// Issue 14, held-out spec on Redis: "A different value under an existing
// (channel, version): the typed error", here in a namespace, for a list
// and a map channel, beside a fresh channel and pending writes that must
// not be stored either.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func TestSpec14VersionIsAPromiseOnRedis(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, sharedServer(t), Options{})
	ctx := context.Background()
	const thread, ns = "promise", "agent:7|tools"
	put := func(parent ckpt.Config, vals map[string]any, versions, newVersions map[string]string) (ckpt.Config, error) {
		return s.Put(ctx, parent, ckpt.Checkpoint{ChannelValues: vals, ChannelVersions: versions}, ckpt.Metadata{"n": len(versions)}, newVersions)
	}
	dump := func() []string {
		var out []string
		for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%+v %v %v %d", tp.Config, tp.Checkpoint.ChannelVersions, tp.Checkpoint.ChannelValues, len(tp.PendingWrites)))
		}
		return out
	}
	c1, err := put(ckpt.Config{ThreadID: thread, CheckpointNS: ns},
		map[string]any{"messages": []any{"hi"}, "plan": map[string]any{"goal": "a"}},
		map[string]string{"messages": "1", "plan": "1"}, map[string]string{"messages": "1", "plan": "1"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := put(c1, map[string]any{"messages": []any{"hi", "first answer"}}, map[string]string{"messages": "2", "plan": "1"}, map[string]string{"messages": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, c2, []ckpt.Write{{Channel: "messages", Value: "pending"}}, "task-a", "p"); err != nil {
		t.Fatal(err)
	}
	// Another namespace or thread: another value space.
	if _, err := put(ckpt.Config{ThreadID: thread, CheckpointNS: "other"}, map[string]any{"messages": []any{"x"}}, map[string]string{"messages": "2"}, map[string]string{"messages": "2"}); err != nil {
		t.Fatalf("same version in another namespace: %v", err)
	}
	before := dump()
	for _, c := range []struct {
		vals             map[string]any
		versions, newVer map[string]string
		channel, version string
	}{
		{map[string]any{"messages": []any{"hi", "second answer"}, "notes": "fresh"}, map[string]string{"messages": "2", "plan": "1", "notes": "n1"}, map[string]string{"messages": "2", "notes": "n1"}, "messages", "2"},
		{map[string]any{"plan": map[string]any{"goal": "b"}, "notes": "fresh"}, map[string]string{"messages": "1", "plan": "1", "notes": "n1"}, map[string]string{"plan": "1", "notes": "n1"}, "plan", "1"},
	} {
		_, err := put(c1, c.vals, c.versions, c.newVer)
		var vc *ckpt.VersionConflictError
		if !errors.Is(err, ckpt.ErrVersionReused) || !errors.As(err, &vc) || errors.Is(err, ckpt.ErrConflict) {
			t.Fatalf("fork reusing %s@%s: %v, want a *VersionConflictError", c.channel, c.version, err)
		}
		if want := (ckpt.VersionConflictError{Thread: thread, NS: ns, Channel: c.channel, Version: c.version}); *vc != want {
			t.Fatalf("error names %+v, want %+v", *vc, want)
		}
		for _, part := range []string{thread, ns, c.channel, c.version} {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", part)) {
				t.Fatalf("%q does not name %q", err, part)
			}
		}
		if after := dump(); !reflect.DeepEqual(after, before) {
			t.Fatalf("a refused Put changed the thread:\n%v\nwant\n%v", after, before)
		}
	}
	// Nothing of the refused Puts was stored: "notes"@"n1" is free.
	c3, err := put(c1, map[string]any{"notes": "other"}, map[string]string{"messages": "1", "plan": "1", "notes": "n1"}, map[string]string{"notes": "n1"})
	if err != nil {
		t.Fatalf("a version of a refused Put is taken: %v", err)
	}
	tp, err := s.GetTuple(ctx, c3)
	if err != nil {
		t.Fatal(err)
	}
	var notes string
	if err := tp.Decode("notes", &notes); err != nil || notes != "other" {
		t.Fatalf("notes = %q, %v", notes, err)
	}
	// Identical bytes under an existing version: shared, no error.
	if _, err := put(c1, map[string]any{"messages": []any{"hi", "first answer"}}, map[string]string{"messages": "2", "plan": "1"}, map[string]string{"messages": "2"}); err != nil {
		t.Fatalf("identical value under an existing version: %v", err)
	}
}
