// Command quickstart shows the seed's save/restore flow: a node runs,
// its state and metadata are saved as a checkpoint, the process "restarts"
// (the store is closed and reopened from the same file) and the state is
// restored from the thread's newest checkpoint. Then it travels back in
// time: a Save with WriteOptions.Parent forks the thread at the first
// checkpoint, History follows the new branch and Branches lists both.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ckpt-go/ckpt"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ckpt-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "agent.db")

	// 1) A node ran and updated the state; 2) metadata says where we are; 3) save.
	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	state := map[string]any{
		"messages":   []Message{{Role: "user", Content: "Summarise this"}},
		"turn_count": 1,
	}
	meta := ckpt.Metadata{"node": "answer", "route": "generate", "reason": "normal"}
	id, err := store.Save(ctx, "thread-1", state, meta)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("saved checkpoint %s on thread-1\n", id)
	first := id

	state["messages"] = append(state["messages"].([]Message), Message{Role: "assistant", Content: "Here is the summary."})
	state["turn_count"] = 2
	if id, err = store.Save(ctx, "thread-1", state, ckpt.Metadata{"node": "answer", "route": "end", "reason": "done"}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("saved checkpoint %s on thread-1\n", id)
	if err := store.Close(); err != nil { // the worker goes away
		log.Fatal(err)
	}

	// A new worker opens the same file and resumes from the newest checkpoint.
	store, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	snap, err := store.Latest(ctx, "thread-1")
	if err != nil {
		log.Fatal(err)
	}
	var msgs []Message
	if err := snap.Decode("messages", &msgs); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("restored %s (parent %s): %d messages, last node %v, route %v\n",
		snap.CheckpointID, snap.ParentID, len(msgs), snap.Metadata["node"], snap.Metadata["route"])
	for _, m := range msgs {
		fmt.Printf("  %s: %s\n", m.Role, m.Content)
	}
	for s, err := range store.History(ctx, "thread-1", ckpt.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("history: %s node=%v reason=%v\n", s.CheckpointID, s.Metadata["node"], s.Metadata["reason"])
	}

	// Time travel: go back to the first checkpoint and answer differently.
	// The old branch stays as it was; the fork becomes the newest checkpoint.
	forkState := map[string]any{
		"messages":   []Message{{Role: "user", Content: "Summarise this"}, {Role: "assistant", Content: "In one line: ..."}},
		"turn_count": 2,
	}
	forkCtx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: first})
	fork, err := store.Save(forkCtx, "thread-1", forkState, ckpt.Metadata{"node": "answer", "route": "end", "reason": "retry"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("forked %s from %s\n", fork, first)
	for s, err := range store.History(ctx, "thread-1", ckpt.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("new branch: %s reason=%v\n", s.CheckpointID, s.Metadata["reason"])
	}
	branches, err := store.Branches(ctx, "thread-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range branches {
		var msgs []Message
		if err := b.Decode("messages", &msgs); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("branch tip %s: %q\n", b.CheckpointID, msgs[len(msgs)-1].Content)
	}
}
