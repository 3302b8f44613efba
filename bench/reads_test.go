package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestRunReadsGivesEveryFigure runs the bench's reads (runReads) on a tiny
// W1 load: every figure, the Reader's included, is measured (a positive
// rate), so a run of record cannot fail at its end on a read path that
// only the full run takes.
func TestRunReadsGivesEveryFigure(t *testing.T) {
	ctx := context.Background()
	in := buildW1Input(4, 6, 50, 64, 10)
	r, st, err := w1Load(ctx, filepath.Join(t.TempDir(), "r.db"), in, ckpt.NoSync, putThenWrites, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rd, err := runReads(ctx, st, in, r.threads, 20)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		"r1": rd.r1, "r1Decode": rd.r1Decode, "r2": rd.r2, "r3": rd.r3, "r4": rd.r4,
		"r1Reader": rd.r1Reader, "r2Reader": rd.r2Reader, "r5ms": rd.r5ms,
	} {
		if !(v > 0) {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
}
