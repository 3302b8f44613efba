package ckpt_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ckpt-go/ckpt"
)

// Time travel: Save with WriteOptions.Parent forks a thread at an older
// checkpoint. History follows the current branch; Branches lists the tips.
func ExampleStore_Save_fork() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ckpt-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := ckpt.Open(filepath.Join(dir, "fork.db"), ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	first, err := store.Save(ctx, "t", map[string]any{"answer": "draft"}, ckpt.Metadata{"step": 1})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Save(ctx, "t", map[string]any{"answer": "long"}, ckpt.Metadata{"step": 2}); err != nil {
		log.Fatal(err)
	}
	// Go back to the first checkpoint and take another path.
	forkCtx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: first})
	if _, err := store.Save(forkCtx, "t", map[string]any{"answer": "short"}, ckpt.Metadata{"step": 2}); err != nil {
		log.Fatal(err)
	}

	for snap, err := range store.History(ctx, "t", ckpt.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		var answer string
		if err := snap.Decode("answer", &answer); err != nil {
			log.Fatal(err)
		}
		fmt.Println("history:", snap.Metadata["step"], answer)
	}
	branches, err := store.Branches(ctx, "t")
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range branches {
		var answer string
		if err := b.Decode("answer", &answer); err != nil {
			log.Fatal(err)
		}
		fmt.Println("branch tip:", answer)
	}
	// Output:
	// history: 2 short
	// history: 1 draft
	// branch tip: short
	// branch tip: long
}
