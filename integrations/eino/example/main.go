// Command example runs an eino graph that stops for a human review before
// it publishes, on a durable ckpt store: the first run interrupts, the
// process "restarts" (the store is closed and reopened from the same
// file), and the run resumes with the reviewer's edit to the graph state.
// Once it completes, the checkpoint is deleted so the id can be reused.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ckpt-go/ckpt"
	einockpt "github.com/ckpt-go/ckpt/integrations/eino"
	"github.com/cloudwego/eino/compose"
	"github.com/cloudwego/eino/schema"
)

// Review is the graph's state; the reviewer fills it in while the graph
// waits.
type Review struct {
	Approved bool
	Note     string
}

func init() {
	// Eino serializes the graph state into the checkpoint: register it.
	schema.RegisterName[*Review]("example_review")
}

// buildGraph compiles write -> publish, interrupted before publish.
func buildGraph(ctx context.Context, cs compose.CheckPointStore) (compose.Runnable[string, string], error) {
	g := compose.NewGraph[string, string](compose.WithGenLocalState(func(context.Context) *Review {
		return &Review{}
	}))
	if err := g.AddLambdaNode("write", compose.InvokableLambda(func(_ context.Context, topic string) (string, error) {
		return "Post about " + topic, nil
	})); err != nil {
		return nil, err
	}
	if err := g.AddLambdaNode("publish", compose.InvokableLambda(func(_ context.Context, post string) (string, error) {
		return "published: " + post, nil
	}), compose.WithStatePreHandler(func(_ context.Context, post string, r *Review) (string, error) {
		if !r.Approved {
			return "", errors.New("not approved")
		}
		return post + " (" + r.Note + ")", nil
	})); err != nil {
		return nil, err
	}
	for _, e := range [][2]string{{compose.START, "write"}, {"write", "publish"}, {"publish", compose.END}} {
		if err := g.AddEdge(e[0], e[1]); err != nil {
			return nil, err
		}
	}
	return g.Compile(ctx, compose.WithCheckPointStore(cs),
		compose.WithInterruptBeforeNodes([]string{"publish"}), compose.WithGraphName("blog"))
}

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "einockpt-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "agent.db")
	const id = "post-42"

	// First process: run until the graph stops for review.
	store, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	cs := einockpt.New(store, einockpt.DeleteOnComplete())
	graph, err := buildGraph(ctx, cs)
	if err != nil {
		log.Fatal(err)
	}
	_, err = einockpt.Invoke(ctx, cs, graph, id, "durable agents")
	info, ok := compose.ExtractInterruptInfo(err)
	if !ok {
		log.Fatalf("want an interrupt, got %v", err)
	}
	fmt.Printf("run 1: interrupted before %v\n", info.BeforeNodes)
	if err := store.Close(); err != nil { // the process goes away
		log.Fatal(err)
	}

	// Second process: open the same file and resume with the review.
	store, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	cs = einockpt.New(store, einockpt.DeleteOnComplete())
	for snap, err := range store.History(ctx, cs.ThreadID(id), ckpt.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("stored: checkpoint %s, source %v, step %v, %v bytes\n", snap.CheckpointID,
			snap.Metadata[einockpt.MetaSource], snap.Metadata[einockpt.MetaStep], snap.Metadata[einockpt.MetaSize])
	}
	graph, err = buildGraph(ctx, cs)
	if err != nil {
		log.Fatal(err)
	}
	out, err := einockpt.Invoke(ctx, cs, graph, id, "", compose.WithStateModifier(
		func(_ context.Context, _ compose.NodePath, state any) error {
			r := state.(*Review)
			r.Approved, r.Note = true, "reviewed by Ann"
			return nil
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run 2:", out)

	_, stillThere, err := cs.Get(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("checkpoint %q kept after completion: %v\n", id, stillThere)
}
