package main

// Physical references for the durable write figures: what the disk allows
// one writer, with no store logic at all.
//   - raw bbolt: one db.Update with one put per step, of the bytes of that
//     step, each fsync'd as bbolt commits (two fsyncs: pages, then meta).
//   - log append: one write of the same bytes to an append-only file plus
//     one fsync per step, the cost of a write-ahead log.
//   - group log append: the same with N writers and group commit (one
//     goroutine writes whatever is queued, fsyncs once, wakes its writers):
//     how much N writers can gain over one on this disk when a step costs
//     nothing but its bytes. It bounds the "N writers vs 1" ratio.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// stepRecord is what one W1 step carries, encoded once per step so the
// references write the same number of bytes as a store would.
type stepRecord struct {
	Messages  []message      `msgpack:"messages"`
	TurnCount int            `msgpack:"turn_count"`
	Context   string         `msgpack:"context,omitempty"`
	Metadata  map[string]any `msgpack:"metadata"`
	Writes    []any          `msgpack:"writes"`
}

// stepBytes encodes every W1 step in W1 order (step-major, thread-minor).
// Encoding is outside the timed part: the references measure the disk.
func stepBytes(in *w1Input) ([][]byte, error) {
	out := make([][]byte, 0, in.T*in.S)
	for s := range in.S {
		for t := range in.T {
			node := "answer"
			if s%2 == 1 {
				node = "tools"
			}
			rec := stepRecord{
				Messages: in.msgs[t][:s+1], TurnCount: s + 1,
				Metadata: map[string]any{"source": "loop", "step": s, "node": node, "route": "generate", "reason": "normal", "run_id": fmt.Sprintf("run-%d", t)},
				Writes:   []any{[]any{"messages", in.msgs[t][s]}, []any{"turn_count", s + 1}},
			}
			if s == 0 {
				rec.Context = in.ctx[t]
			}
			b, err := msgpack.Marshal(&rec)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// rawBolt puts each record in its own bbolt transaction (durable, bbolt's
// defaults) and returns transactions per second.
func rawBolt(path string, recs [][]byte) (float64, error) {
	_ = os.Remove(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	name := []byte("steps")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(name); return err }); err != nil {
		_ = db.Close()
		return 0, err
	}
	key := make([]byte, 8)
	t0 := time.Now()
	for i, r := range recs {
		binary.BigEndian.PutUint64(key, uint64(i))
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(name).Put(key, r) }); err != nil {
			_ = db.Close()
			return 0, err
		}
	}
	rate := float64(len(recs)) / time.Since(t0).Seconds()
	return rate, db.Close()
}

// logAppend appends each record to one file and fsyncs after each, and
// returns appends per second.
func logAppend(path string, recs [][]byte) (float64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	t0 := time.Now()
	for _, r := range recs {
		if _, err := f.Write(r); err != nil {
			_ = f.Close()
			return 0, err
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return 0, err
		}
	}
	rate := float64(len(recs)) / time.Since(t0).Seconds()
	return rate, f.Close()
}

// logAppendGroup is logAppend with writers goroutines (each taking every
// writers-th record) and a group commit loop; it returns steps per second.
func logAppendGroup(path string, recs [][]byte, writers int) (float64, error) {
	rate, _, err := logAppendGroupStats(path, recs, writers)
	return rate, err
}

// appendStats is how a group-committed append shared its fsyncs.
type appendStats struct {
	fsyncs  int           // fsyncs made
	syncDur time.Duration // their total duration
	elapsed time.Duration // the whole run's
}

// logAppendGroupStats is logAppendGroup that also says how the steps
// shared the fsyncs.
func logAppendGroupStats(path string, recs [][]byte, writers int) (float64, appendStats, error) {
	var st appendStats
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, st, err
	}
	defer os.Remove(path)
	type req struct {
		rec  []byte
		done chan error
	}
	queue := make(chan req, writers)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		var buf []byte
		var waiting []chan error
		for r := range queue {
			buf, waiting = append(buf[:0], r.rec...), append(waiting[:0], r.done)
		gather:
			for {
				select {
				case r, ok := <-queue:
					if !ok {
						break gather
					}
					buf, waiting = append(buf, r.rec...), append(waiting, r.done)
				default:
					break gather
				}
			}
			_, err := f.Write(buf)
			if err == nil {
				t := time.Now()
				err = f.Sync()
				st.fsyncs++
				st.syncDur += time.Since(t)
			}
			for _, w := range waiting {
				w <- err
			}
		}
	}()
	t0 := time.Now()
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			done := make(chan error, 1)
			for i := w; i < len(recs); i += writers {
				queue <- req{recs[i], done}
				if err := <-done; err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var firstErr error
	for range writers {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	st.elapsed = time.Since(t0)
	rate := float64(len(recs)) / st.elapsed.Seconds()
	close(queue)
	<-loopDone // st is the loop's until it ends
	return rate, st, errors.Join(firstErr, f.Close())
}

// fsyncProbe times a 4 KiB overwrite plus fsync in dir, as the peer's
// probe does: context for how fast this disk is right now.
func fsyncProbe(dir string, n int) (p50, p99 float64, err error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]float64, 0, n)
	for range n {
		if _, err := f.WriteAt(buf, 0); err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
		lat = append(lat, micros(time.Since(t0)))
	}
	return median(lat), p99Of(lat), nil
}

func p99Of(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return pct(s, 99)
}
