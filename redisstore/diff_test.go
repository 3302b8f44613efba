package redisstore

import (
	"testing"

	"github.com/ckpt-go/ckpt/internal/difftest"
)

// TestDiffAgainstLangGraphJS runs the differential test against
// LangGraph.js's MemorySaver and SqliteSaver (internal/difftest; only with
// CKPT_DIFF=1, node and the driver's node_modules) on the Redis store.
func TestDiffAgainstLangGraphJS(t *testing.T) {
	srv := sharedServer(t)
	difftest.Run(t, func(t *testing.T, i int) *difftest.Subject {
		s := newTestStore(t, srv, Options{})
		sub := &difftest.Subject{Saver: s}
		if i%2 == 0 {
			sub.PutFull = s.PutFull
		}
		return sub
	})
}
