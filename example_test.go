package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ckpt-go/ckpt"
)

// tempFile returns a path for a store file in a new temporary directory,
// and a function that removes the directory.
func tempFile() (string, func()) {
	dir, err := os.MkdirTemp("", "ckpt-example-")
	if err != nil {
		log.Fatal(err)
	}
	return filepath.Join(dir, "agent.db"), func() { os.RemoveAll(dir) }
}

// Open creates the file if it is missing; a second Open of the same file
// (here, in the same process) waits for Options.LockTimeout and then
// fails with ErrLocked, because one process holds the file at a time.
func ExampleOpen() {
	path, cleanup := tempFile()
	defer cleanup()

	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	_, err = ckpt.Open(path, ckpt.Options{LockTimeout: 10 * time.Millisecond})
	fmt.Println(errors.Is(err, ckpt.ErrLocked))
	// Output: true
}

// Save stores a state's top-level keys as channels (only those that
// changed are written again); Latest reads the newest one back, for
// example in a new process after a crash.
func ExampleStore_Save() {
	path, cleanup := tempFile()
	defer cleanup()
	ctx := context.Background()

	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	state := map[string]any{"messages": []string{"hello"}, "turn": 1}
	if _, err := store.Save(ctx, "thread-1", state, ckpt.Metadata{"node": "greet"}); err != nil {
		log.Fatal(err)
	}
	state = map[string]any{"messages": []string{"hello", "how can I help?"}, "turn": 2}
	id, err := store.Save(ctx, "thread-1", state, ckpt.Metadata{"node": "answer"})
	if err != nil {
		log.Fatal(err)
	}
	store.Close() // the worker goes away ...

	store, err = ckpt.Open(path, ckpt.Options{}) // ... and a new one resumes
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	snap, err := store.Latest(ctx, "thread-1")
	if err != nil {
		log.Fatal(err)
	}
	var msgs []string
	if err := snap.Decode("messages", &msgs); err != nil {
		log.Fatal(err)
	}
	fmt.Println(snap.CheckpointID == id, snap.Metadata["node"], msgs)
	// Output: true answer [hello how can I help?]
}

// Put stores a checkpoint with only the channels named in newVersions;
// GetTuple reads one back (the newest when the config names no id).
func ExampleStore_Put() {
	path, cleanup := tempFile()
	defer cleanup()
	ctx := context.Background()
	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	cp := ckpt.Checkpoint{
		ChannelValues:   map[string]any{"question": "bbolt or SQLite?"},
		ChannelVersions: map[string]string{"question": "1"},
	}
	cfg, err := store.Put(ctx, ckpt.Config{ThreadID: "t"}, cp, ckpt.Metadata{"step": 0, "source": "input"}, map[string]string{"question": "1"})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "answer", Value: "bbolt"}}, "task-1", "answer"); err != nil {
		log.Fatal(err)
	}

	tuple, err := store.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
	if err != nil {
		log.Fatal(err)
	}
	var q string
	if err := tuple.Decode("question", &q); err != nil {
		log.Fatal(err)
	}
	fmt.Println(tuple.Config.CheckpointID == cfg.CheckpointID, q, tuple.Metadata["step"], len(tuple.PendingWrites), tuple.PendingWrites[0].Channel)
	// Output: true bbolt or SQLite? 0 1 answer
}

// A fork: a Put whose parent is an older checkpoint starts a second branch
// from it. The thread's newest checkpoint is then the fork, and each
// branch keeps its own history.
func ExampleStore_Put_fork() {
	path, cleanup := tempFile()
	defer cleanup()
	ctx := context.Background()
	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	put := func(parent ckpt.Config, draft, version string) ckpt.Config {
		cp := ckpt.Checkpoint{
			ChannelValues:   map[string]any{"draft": draft},
			ChannelVersions: map[string]string{"draft": version},
		}
		cfg, err := store.Put(ctx, parent, cp, ckpt.Metadata{"draft": draft}, map[string]string{"draft": version})
		if err != nil {
			log.Fatal(err)
		}
		return cfg
	}
	first := put(ckpt.Config{ThreadID: "essay"}, "outline", "1")
	_ = put(first, "long version", "2")
	fork := put(first, "short version", "3") // parent: first, not the head

	head, err := store.GetTuple(ctx, ckpt.Config{ThreadID: "essay"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(head.Config.CheckpointID == fork.CheckpointID, head.Metadata["draft"], head.ParentConfig.CheckpointID == first.CheckpointID)
	// Output: true short version true
}

// List walks checkpoints newest first; Filter keeps those whose metadata
// contains the given keys and values.
func ExampleStore_List() {
	path, cleanup := tempFile()
	defer cleanup()
	ctx := context.Background()
	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for step, node := range []string{"planner", "writer", "critic", "writer"} {
		state := map[string]any{"step": step}
		if _, err := store.Save(ctx, "t", state, ckpt.Metadata{"node": node, "step": step}); err != nil {
			log.Fatal(err)
		}
	}
	for tuple, err := range store.List(ctx, ckpt.ListOptions{ThreadID: "t", Filter: map[string]any{"node": "writer"}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(tuple.Metadata["node"], tuple.Metadata["step"])
	}
	// Output:
	// writer 3
	// writer 1
}

// GC deletes old history by policy: here all but the newest two
// checkpoints of each thread. Kept checkpoints keep every value they use.
func ExampleStore_GC() {
	path, cleanup := tempFile()
	defer cleanup()
	ctx := context.Background()
	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for i := range 5 {
		state := map[string]any{"counter": i, "config": "unchanged"}
		if _, err := store.Save(ctx, "t", state, ckpt.Metadata{"step": i}); err != nil {
			log.Fatal(err)
		}
	}
	stats, err := store.GC(ctx, ckpt.Policy{KeepLast: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted", stats.Checkpoints, "checkpoints")

	newest, err := store.Latest(ctx, "t")
	if err != nil {
		log.Fatal(err)
	}
	// "config" never changed: its value was written by step 0, whose
	// checkpoint is gone, and stays because the kept ones use it.
	var config string
	if err := newest.Decode("config", &config); err != nil {
		log.Fatal(err)
	}
	n := 0
	for _, err := range store.History(ctx, "t", ckpt.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "left;", "config:", config)
	// Output:
	// deleted 3 checkpoints
	// 2 left; config: unchanged
}
