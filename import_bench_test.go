package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkImport imports a dump of 50 threads of 40 W1-like steps (a
// message list that grows, a note changed every step) into a new store.
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	src, err := Open(filepath.Join(b.TempDir(), "src.db"), Options{Durability: NoSync})
	if err != nil {
		b.Fatal(err)
	}
	for th := range 50 {
		var items []any
		for step := range 40 {
			items = append(items, strings.Repeat(fmt.Sprintf("t%d s%d ", th, step), 40))
			if _, err := src.Save(ctx, fmt.Sprintf("thread-%02d", th), map[string]any{"messages": items, "note": fmt.Sprint(step)}, Metadata{"step": step}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := src.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(dump.Len()))
	b.ResetTimer()
	for i := range b.N {
		dst, err := Open(filepath.Join(b.TempDir(), fmt.Sprintf("dst%d.db", i)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
