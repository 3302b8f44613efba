package ckpt_test

import (
	"testing"

	"github.com/ckpt-go/ckpt"
)

func TestGCSweepsDeadListLineages(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	for _, msgs := range [][]string{{"a"}, {"a", "b"}, {"a", "b", "c"}, {"x"}, {"x", "y"}} {
		if _, err := s.Save(ctx, "t", map[string]any{"messages": msgs}, nil); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.GC(ctx, ckpt.Policy{KeepLast: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if st.Segments == 0 {
		t.Fatalf("no segment swept: %+v", st)
	}
	checkInvariants(t, s)
	snap, err := s.Latest(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := snap.Decode("messages", &got); err != nil || len(got) != 2 || got[1] != "y" {
		t.Fatalf("%v %v", got, err)
	}
}
