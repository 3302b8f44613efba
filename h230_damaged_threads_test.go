package ckpt

// H230: a read-only store whose file holds a page cycle confined to one
// thread's buckets (h229CycleFiles) keeps every other thread readable;
// Verify, Threads and Export must let a user find the damaged thread and
// save the others: Verify names it and checks the rest, Threads yields
// it with its error and goes on, Export with SkipDamaged writes every
// other thread, exactly as an export of those threads alone, and names
// the one it left out.

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

func TestH230CycleFileDamagedThreadNamedOthersSaved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ro := h229CycleStore(t)
	all, bad := h230Threads(ctx, t, ro)
	for _, th := range h186Threads {
		if !slices.Contains(all, th) {
			t.Fatalf("Threads yielded %v, not %s", all, th)
		}
	}
	// The damaged threads, as a read of each thread tells them.
	var damaged, sound []string
	for _, th := range all {
		if _, err := ro.Thread(ctx, th); errors.Is(err, ErrCorrupt) {
			damaged = append(damaged, th)
		} else if err != nil {
			t.Fatalf("Thread %s: %v", th, err)
		} else {
			sound = append(sound, th)
		}
	}
	if len(damaged) == 0 || len(sound) == 0 || !slices.Equal(bad, damaged) {
		t.Fatalf("damaged %v, sound %v (want both), Threads' errors for %v", damaged, sound, bad)
	}

	rep, err := ro.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.OK() || rep.Threads != len(all) || !slices.Equal(rep.DamagedThreads, damaged) || rep.Checkpoints == 0 {
		t.Fatalf("Verify: %d threads checked, %d checkpoints, damaged %v (want %d threads, damaged %v); problems %v",
			rep.Threads, rep.Checkpoints, rep.DamagedThreads, len(all), damaged, rep.Problems)
	}
	for _, p := range rep.Problems {
		if p.Thread != "" && !slices.Contains(damaged, p.Thread) {
			t.Errorf("Verify: a problem in sound thread %s: %v", p.Thread, p)
		}
	}

	if _, err := ro.Export(ctx, new(bytes.Buffer), ExportOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Export: %v, want ErrCorrupt", err)
	}
	var got, want bytes.Buffer
	sum, err := ro.Export(ctx, &got, ExportOptions{SkipDamaged: true})
	if err != nil {
		t.Fatalf("Export SkipDamaged: %v", err)
	}
	if !slices.Equal(sum.Damaged, damaged) || sum.Threads != int64(len(sound)) {
		t.Fatalf("Export SkipDamaged: left out %v, %d threads written; want %v left out, %d written", sum.Damaged, sum.Threads, damaged, len(sound))
	}
	wsum, err := ro.Export(ctx, &want, ExportOptions{Threads: sound})
	if err != nil {
		t.Fatalf("Export of the sound threads: %v", err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) || sum.records() != wsum.records() {
		t.Fatalf("Export SkipDamaged wrote %d bytes (%d records), an export of %v %d bytes (%d records): want the same dump",
			got.Len(), sum.records(), sound, want.Len(), wsum.records())
	}
}
