package ckpt

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// An ambiguous prefix names the ids it starts: all of them when they are
// few, with "..." only when some are left out. Two ids were printed as
// "(A, B...)", which says there are more.
func TestH137ResolveIDAmbiguousNamesAllOrSaysMore(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	ids := []string{"01ARZ3NDEKTSV4RRFFQ69G5FA1", "01ARZ3NDEKTSV4RRFFQ69G5FA2", "01ARZ3NDEKTSV4RRFFQ69G5FB1", "01ARZ3NDEKTSV4RRFFQ69G5FB2", "01ARZ3NDEKTSV4RRFFQ69G5FB3", "01ARZ3NDEKTSV4RRFFQ69G5FB4"}
	for _, id := range ids {
		if _, err := s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{ID: id}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		prefix, want string
	}{
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", `is the start of 2 checkpoint ids (01ARZ3NDEKTSV4RRFFQ69G5FA1, 01ARZ3NDEKTSV4RRFFQ69G5FA2)`},
		{"01ARZ3NDEKTSV4RRFFQ69G5FB", `is the start of 4 checkpoint ids (01ARZ3NDEKTSV4RRFFQ69G5FB1, 01ARZ3NDEKTSV4RRFFQ69G5FB2, 01ARZ3NDEKTSV4RRFFQ69G5FB3, ...)`},
	} {
		_, err := s.ResolveID(ctx, "t", "", c.prefix)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ResolveID(%q) = %v; want ErrInvalidConfig saying %q", c.prefix, err, c.want)
		}
	}
}
