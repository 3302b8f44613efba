package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestW2EncryptionBytes writes one W2-shaped thread (W1's steps: Put then
// PutWrites, the default payload and context sizes) with encryption off
// and on, and compares the bytes per step: issue 16 allows at most 1.2x.
// Steps: CKPT_W2_CRYPT_STEPS (default 400). Figures in RESULTS.md.
func TestW2EncryptionBytes(t *testing.T) {
	t.Parallel()
	steps := 400
	if v, err := strconv.Atoi(os.Getenv("CKPT_W2_CRYPT_STEPS")); err == nil && v > 0 {
		steps = v
	}
	in := buildW1Input(1, steps, 200, 1024, 0)
	dir := t.TempDir()
	key := ckpt.Key{ID: 1}
	for i := range key.Secret {
		key.Secret[i] = byte(i)
	}
	plain := w2StoredBytes(t, filepath.Join(dir, "plain.db"), in, nil)
	sealed := w2StoredBytes(t, filepath.Join(dir, "sealed.db"), in, &ckpt.Encryption{Keys: []ckpt.Key{key}})
	for _, m := range []struct {
		name     string
		off, on  int64
		limitHit bool
	}{
		{"keys+values in buckets", plain.data, sealed.data, true},
		{"file after Close", plain.file, sealed.file, false},
	} {
		ratio := float64(m.on) / float64(m.off)
		t.Logf("W2 %d steps, %s: off %d B (%.0f B/step), on %d B (%.0f B/step): %.3fx",
			steps, m.name, m.off, float64(m.off)/float64(steps), m.on, float64(m.on)/float64(steps), ratio)
		if m.limitHit && ratio > 1.2 {
			t.Errorf("%s: encryption costs %.3fx the bytes per step, the limit is 1.2x", m.name, ratio)
		}
	}
}

type w2Bytes struct{ data, file int64 }

func w2StoredBytes(t *testing.T, path string, in *w1Input, enc *ckpt.Encryption) w2Bytes {
	t.Helper()
	ctx := context.Background()
	st, err := ckpt.Open(path, ckpt.Options{Encryption: enc})
	if err != nil {
		t.Fatal(err)
	}
	th := newThreads(in)
	for s := range in.S {
		if _, err := doStep(ctx, st, in, &th[0], 0, s, putThenWrites); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The bytes of the records themselves: the file grows in steps (and
	// keeps free pages), which blurs a comparison of its size.
	st, err = ckpt.Open(path, ckpt.Options{ReadOnly: true, Encryption: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b w2Bytes
	for _, bk := range stats.Buckets {
		b.data += bk.Bytes
	}
	b.file, _, err = fileSizes(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
