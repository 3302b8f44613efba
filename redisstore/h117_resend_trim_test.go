package redisstore

// h117-hunt: go-redis sends a command again when the connection broke
// before its reply (doc.go: "a resent put finds itself stored and reports
// success"). The put script knows itself only by its checkpoint still
// being there: when retention removed it between the two runs (KeepLast
// trimming by the next worker's put, or Prune), the resend reports
// ckpt.ErrNotFound (its parent was trimmed too) for a put that was
// applied and that another worker already built on.
//
// Fixed: the put script notes its call's token in the thread's recent
// puts (keys.go), which retention does not touch.

import (
	"context"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

// betweenHook runs the first EVALSHA, then between() once, then sends the
// same command again: a reply lost to a broken connection, with another
// worker's calls landing before go-redis's resend.
type betweenHook struct{ between func() }

func (h *betweenHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *betweenHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *betweenHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" && h.between != nil {
			if err := next(ctx, cmd); err != nil {
				return err
			}
			f := h.between
			h.between = nil
			f()
		}
		return next(ctx, cmd)
	}
}

func TestH117ResentPutTrimmedMeanwhileReportsSuccess(t *testing.T) {
	srv := sharedServer(t)
	for _, tc := range []struct {
		name      string
		keep      int
		meanwhile func(t *testing.T, other *Store, a ckpt.Config)
	}{
		{"KeepLast 1, the next put trims it", 1, func(t *testing.T, other *Store, a ckpt.Config) {
			step(t, other, a, 3)
		}},
		{"Prune keeps the next put only", 0, func(t *testing.T, other *Store, a ckpt.Config) {
			step(t, other, a, 3)
			if err := other.Prune(bg, []string{"resend"}, ckpt.PruneKeepLatest); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, srv, Options{KeepLast: tc.keep})
			other := newTestStore(t, srv, Options{Prefix: s.keys.prefix, KeepLast: tc.keep})
			p := step(t, s, ckpt.Config{ThreadID: "resend"}, 1)
			h := &betweenHook{}
			s.Client().AddHook(h)
			h.between = func() {
				tp, err := other.GetTuple(bg, ckpt.Config{ThreadID: "resend"})
				if err != nil {
					t.Fatal(err)
				}
				tc.meanwhile(t, other, tp.Config) // another worker builds on the put, retention takes it
			}
			cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
			_, err := s.Put(cas, p, ckpt.Checkpoint{
				ChannelValues:   map[string]any{"count": 2, "const": "same"},
				ChannelVersions: map[string]string{"count": "2", "const": "1"},
			}, ckpt.Metadata{"step": 2}, map[string]string{"count": "2"})
			if err != nil {
				t.Fatalf("a put applied once (and built on by another worker) reported %v, want success", err)
			}
		})
	}
}
