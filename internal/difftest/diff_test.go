package difftest_test

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/difftest"
)

// TestDiffSaverAgainstLangGraphJS runs the differential test on the
// store: every third sequence without the write-ahead log; the others
// apply the log and reopen the file now and then, so reads go through the
// overlay, the file and the replayed log; every fourth with Async writes
// (each read Flushes first). Every GetTuple is read through a Reader too.
func TestDiffSaverAgainstLangGraphJS(t *testing.T) {
	difftest.Run(t, func(t *testing.T, i int) *difftest.Subject {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("d%d.db", i))
		opts := ckpt.Options{Durability: ckpt.NoSync, NoWAL: i%3 == 2}
		if i%4 == 3 {
			opts.Durability = ckpt.Async // reads Flush first
		}
		var open func() (*difftest.Subject, error)
		open = func() (*difftest.Subject, error) {
			s, err := ckpt.Open(path, opts)
			if err != nil {
				return nil, err
			}
			rd := s.NewReader()
			sub := &difftest.Subject{Saver: s, GetTuple: rd.GetTuple, PutFull: s.PutFull, Close: s.Close}
			if opts.Durability == ckpt.Async {
				sub.Saver = flushing{s}
			}
			sub.Churn = func(rng *rand.Rand) (*difftest.Subject, string, error) {
				if opts.NoWAL || rng.IntN(2) == 0 {
					if err := s.Close(); err != nil {
						return nil, "reopen", err
					}
					next, err := open()
					return next, "reopen", err
				}
				return sub, "ApplyLog", s.ApplyLog(context.Background())
			}
			return sub, nil
		}
		sub, err := open()
		if err != nil {
			t.Fatal(err)
		}
		return sub
	})
}

// flushing is the store whose reads Flush first: with Async writes a read
// sees what was queued before it only once it is logged.
type flushing struct{ *ckpt.Store }

func (f flushing) GetTuple(ctx context.Context, cfg ckpt.Config) (*ckpt.Tuple, error) {
	if err := f.Flush(ctx); err != nil {
		return nil, err
	}
	return f.Store.GetTuple(ctx, cfg)
}

func (f flushing) List(ctx context.Context, opts ckpt.ListOptions) iter.Seq2[*ckpt.Tuple, error] {
	return func(yield func(*ckpt.Tuple, error) bool) {
		if err := f.Flush(ctx); err != nil {
			yield(nil, err)
			return
		}
		for t, err := range f.Store.List(ctx, opts) {
			if !yield(t, err) {
				return
			}
		}
	}
}
