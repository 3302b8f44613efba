// Package difftest compares a ckpt.Saver with LangGraph.js's own savers
// (MemorySaver and SqliteSaver from @langchain/langgraph-checkpoint 1.2.2
// and @langchain/langgraph-checkpoint-sqlite 1.0.4): Run sends random
// sequences of Put, PutWrites, GetTuple, List and DeleteThread to the
// Saver and, as JSON lines, to testdata/driver/driver.mjs, and the answers
// must agree (normalised: JSON values, ids given to both sides). The
// bbolt store runs it here (diff_test.go), redisstore in its own module.
//
// It runs only with CKPT_DIFF=1, node on the PATH and the driver's
// node_modules installed (cd testdata/driver && npm ci), so CI needs no
// npm. CKPT_DIFF_SEQS sets the number of sequences (default 20, a few
// seconds), CKPT_DIFF_SEED the first seed.
//
// The sequences stay where ckpt documents no difference
// (docs/langgraph-differences.md): parents and write targets exist,
// newVersions agree with ChannelVersions, no put again makes a
// checkpoint its own ancestor, filters hold no maps.
// Where the two LangGraph savers differ from each other, compare says
// which one ckpt follows.
package difftest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Subject is the Saver under test for one sequence.
type Subject struct {
	Saver ckpt.Saver
	// GetTuple, if set, is another read path (a Reader) that must read
	// what Saver.GetTuple reads.
	GetTuple func(ctx context.Context, cfg ckpt.Config) (*ckpt.Tuple, error)
	// Churn, if set, is called between some calls (rng decides what it
	// does: apply a log, reopen a file); it returns the Subject to use
	// from then on and what it did, for the failure's call log.
	Churn func(rng *rand.Rand) (*Subject, string, error)
	// PutFull, if set, stores a checkpoint with pending writes in one call
	// (what Put and then PutWrites per task store).
	PutFull func(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string, writes []ckpt.TaskWrites) (ckpt.Config, error)
	// Close ends the sequence.
	Close func() error
}

// Run runs CKPT_DIFF_SEQS sequences, each on a fresh, empty Subject from
// newSubject, and reports every sequence whose answers differ from
// LangGraph.js's (at its first difference).
func Run(t *testing.T, newSubject func(t *testing.T, i int) *Subject) {
	o := startOracle(t)
	seed := uint64(1)
	if n, err := strconv.ParseUint(os.Getenv("CKPT_DIFF_SEED"), 10, 64); err == nil {
		seed = n
	}
	ctx := context.Background()
	diffs, calls := 0, 0
	for i := range seqs() {
		s := newSubject(t, i)
		o.call(t, map[string]any{"op": "reset"})
		g := newGen(seed + uint64(i))
		var log []string
		n := 60
		if i%5 == 4 {
			n = 250 // past a List page (64)
		}
		for range n {
			if s.Churn != nil && g.rng.IntN(20) == 0 {
				next, what, err := s.Churn(g.rng)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				s = next
				log = append(log, "("+what+")")
			}
			st := g.next(t)
			calls++
			line, _ := json.Marshal(st.req)
			log = append(log, string(line))
			got, err := st.do(ctx, s)
			a := o.call(t, st.req)
			if d := compare(t, st.req, got, err, a); d != "" {
				diffs++
				if diffs <= 5 {
					t.Errorf("seed %d, call %d: %s\n%s\ncalls:\n%s", seed+uint64(i), len(log), d, line, strings.Join(log, "\n"))
				}
				break // the states may differ from here on
			}
		}
		if s.Close != nil {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d calls in %d sequences, %d with a difference", calls, seqs(), diffs)
}

func seqs() int {
	if n, err := strconv.Atoi(os.Getenv("CKPT_DIFF_SEQS")); err == nil && n > 0 {
		return n
	}
	return 20
}
