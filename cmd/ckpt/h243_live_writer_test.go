package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ckpt-go/ckpt"
)

// Environment of the helper process that writes a store as a running
// service does (see liveWrite).
const (
	writeEnv     = "CKPT_TEST_WRITE"
	writeModeEnv = "CKPT_TEST_WRITE_MODE" // "sync" or "async"
)

// liveWrite opens the store at path for writing, says "held" on stdout
// and saves checkpoints from four goroutines (threads w0..w3) until stdin
// closes, printing "ack THREAD ID" for each write once it is acknowledged
// (Sync: Save returned nil; Async: a Flush after it returned nil), then
// closes the store and says "closed". An error is a line "error ...".
func liveWrite(path, mode string) int {
	opts := ckpt.Options{}
	if mode == "async" {
		opts.Durability = ckpt.Async
	}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("held")
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	ctx := context.Background()
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			th := fmt.Sprintf("w%d", w)
			var saved []string // not yet acknowledged (Async)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, err := s.Save(ctx, th, map[string]any{"i": i, "pad": fmt.Sprintf("%0500d", i)}, ckpt.Metadata{"step": i})
				if err != nil {
					say("error save %s: %v", th, err)
					return
				}
				saved = append(saved, id)
				if mode == "async" && i%8 != 7 {
					continue
				}
				if mode == "async" {
					if err := s.Flush(ctx); err != nil {
						say("error flush %s: %v", th, err)
						return
					}
				}
				for _, id := range saved {
					say("ack %s %s", th, id)
				}
				saved = saved[:0]
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		say("error close: %v", err)
		return 1
	}
	say("closed")
	return 0
}
