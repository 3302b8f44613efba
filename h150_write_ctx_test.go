package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/oklog/ulid/v2"
)

// A Sync or NoSync write queued behind a commit loop that does not get on
// (a long Compact, a stalled disk: here a solo op held in the loop)
// returns ctx.Err() once its ctx ends, as a Flush does, and is never
// written: the loop has not taken it, so leaving is safe. Before, the
// write waited for the loop whatever its ctx said (and then failed with
// ctx.Err() all the same, having waited for nothing).
func TestH150QueuedWriteLeavesWhenItsContextEnds(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
		dur  Durability
	}{
		{"sync", Options{}, Sync},
		{"nosync", Options{}, NoSync},
		{"nowal", Options{NoWAL: true}, Sync},
	} {
		t.Run(c.name, func(t *testing.T) {
			var armed atomic.Bool
			var sends atomic.Int32
			opts := c.opts
			// BeforeSend runs under the queue lock for a write with an
			// OnQueue hook (Save): the second send seen means the first
			// is in the queue.
			opts.tuning = &tuning{hooks: engine.Hooks{BeforeSend: func() {
				if armed.Load() {
					sends.Add(1)
				}
			}}}
			s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			bg := context.Background()
			if _, err := s.Save(bg, "t", map[string]any{"v": 0}, nil); err != nil {
				t.Fatal(err)
			}
			entered, release := make(chan struct{}), make(chan struct{})
			soloDone := make(chan error, 1)
			go func() {
				soloDone <- s.eng.Solo(bg, func() error { close(entered); <-release; return nil })
			}()
			<-entered
			armed.Store(true)
			ctx, cancel := context.WithCancel(WithWriteOptions(bg, WriteOptions{Durability: c.dur}))
			type result struct {
				id  string
				err error
			}
			left, other := make(chan result, 1), make(chan result, 1)
			go func() {
				id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
				left <- result{id, err}
			}()
			for sends.Load() < 1 {
				time.Sleep(time.Millisecond)
			}
			go func() {
				id, err := s.Save(bg, "u", map[string]any{"v": 2}, nil)
				other <- result{id, err}
			}()
			for sends.Load() < 2 { // the first Save is queued
				time.Sleep(time.Millisecond)
			}
			cancel()
			// Only a failure waits this long: a write that honours its
			// ctx returns at once.
			guard := time.NewTimer(10 * time.Second)
			var got result
			select {
			case got = <-left:
				guard.Stop()
			case <-guard.C:
				t.Errorf("a queued write did not return when its ctx ended (it waits for the held commit loop)")
				close(release)
				release = nil
				got = <-left
			}
			if !errors.Is(got.err, context.Canceled) {
				t.Errorf("queued write whose ctx ended: %v, want context.Canceled", got.err)
			}
			if release != nil {
				close(release)
			}
			if err := <-soloDone; err != nil {
				t.Fatal(err)
			}
			if r := <-other; r.err != nil {
				t.Fatalf("the write behind it: %v", r.err)
			}
			// It was never written.
			n := 0
			for tp, err := range s.List(bg, ListOptions{ThreadID: "t"}) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				if v := fmt.Sprint(tp.Metadata); got.id != "" && tp.Config.CheckpointID == got.id {
					t.Errorf("the write that returned %v is there: %s", got.err, v)
				}
			}
			if n != 1 {
				t.Errorf("thread t holds %d checkpoints, want 1", n)
			}
		})
	}
}

// h150RaceCtx is a context whose next Err, once armed, runs trigger after
// reading the error: the commit loop's check of a write's ctx, with the
// ctx ending (and its caller perhaps leaving) right after it.
type h150RaceCtx struct {
	context.Context
	armed   *atomic.Bool
	trigger func()
}

func (c h150RaceCtx) Err() error {
	err := c.Context.Err()
	if c.armed.CompareAndSwap(true, false) {
		c.trigger()
	}
	return err
}

// The commit loop found a write's ctx alive and is about to run it when
// the ctx ends and its caller leaves: the write must then not run (the
// caller was told ctx.Err()), or, if the loop took it first, the caller
// must wait for its outcome. Either way the call's result and the store
// agree. Deterministic: the loop's check of the ctx cancels it and waits
// until the caller returned (or 2 s, if the caller waits for the loop).
func TestH150WriteLeavingAsTheLoopTakesIt(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		// Armed once the write is past its own checks of ctx (BeforeSend):
		// the next Err is the commit loop's.
		var armOnSend, armNext atomic.Bool
		opts := Options{NoWAL: noWAL}
		opts.tuning = &tuning{hooks: engine.Hooks{BeforeSend: func() {
			if armOnSend.Load() {
				armNext.Store(true)
			}
		}}}
		s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), opts)
		if err != nil {
			t.Fatal(err)
		}
		bg := context.Background()
		if _, err := s.Save(bg, "t", map[string]any{"v": 0}, nil); err != nil {
			t.Fatal(err)
		}
		inner, cancel := context.WithCancel(bg)
		returned := make(chan struct{})
		ctx := h150RaceCtx{Context: inner, armed: &armNext, trigger: func() {
			cancel()
			select {
			case <-returned:
			case <-time.After(2 * time.Second): // the caller waits for the loop
			}
		}}
		armOnSend.Store(true)
		id := ulid.Make().String()
		_, err = s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{ID: id, ChannelValues: map[string]any{"v": 1}, ChannelVersions: map[string]string{"v": id}},
			nil, map[string]string{"v": id})
		close(returned)
		// The loop is through with the Put once a Flush after it returns.
		if err := s.Flush(bg); err != nil {
			t.Fatal(err)
		}
		_, gerr := s.GetTuple(bg, Config{ThreadID: "t", CheckpointID: id})
		switch {
		case err == nil && gerr != nil:
			t.Errorf("nowal %v: Put returned nil, its checkpoint reads %v", noWAL, gerr)
		case err != nil && gerr == nil:
			t.Errorf("nowal %v: Put returned %v, yet its checkpoint %s is there", noWAL, err, id)
		}
		n := 0
		for _, err := range s.List(bg, ListOptions{ThreadID: "t"}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if want := map[bool]int{true: 2, false: 1}[err == nil]; n != want {
			t.Errorf("nowal %v: Put returned %v; thread holds %d checkpoints, want %d", noWAL, err, n, want)
		}
		t.Logf("nowal %v: Put returned %v", noWAL, err)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
