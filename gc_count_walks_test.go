package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// idsWalks is a writer that counts the walks of one thread's ids/.
type idsWalks struct {
	writer
	ids   bucketPath
	walks int
}

func (w *idsWalks) Scan(p bucketPath, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if len(p) == len(w.ids) && bytes.Equal(bytes.Join(p, []byte{0}), bytes.Join(w.ids, []byte{0})) {
		w.walks++
	}
	return w.writer.Scan(p, prefix, start, reverse, fn)
}

// TestGCSweepCountsTheHistoryOncePerTransaction: the sweep checks the
// records it read of a namespace against the checkpoints ids/ names for
// it (afb18d3), and counted them with a walk of the thread's whole ids/
// per namespace swept: a thread of 50 namespaces walked it 50 times per
// transaction (GC of 20 such threads took 47% more CPU). One walk per
// transaction counts every namespace: the drop and the 50 sweeps of one
// step walk ids/ for the plan's keepHeads checks and the count only.
func TestGCSweepCountsTheHistoryOncePerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const nss = 50
	for n := range nss {
		parent := ""
		for i := range 3 {
			v := fmt.Sprintf("v%d", i)
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: fmt.Sprint("ns", n), CheckpointID: parent},
				Checkpoint{ChannelValues: map[string]any{"x": v}, ChannelVersions: map[string]string{"x": v}}, nil, map[string]string{"x": v})
			if err != nil {
				t.Fatal(err)
			}
			parent = cfg.CheckpointID
		}
	}
	var job *threadJob
	if err := s.view(ctx, func(r reader) (err error) {
		job, _, err = planPolicy(r, "t", Policy{KeepLast: 1}, time.Now(), 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(job.drop) != 2*nss {
		t.Fatalf("planned %d drops, want %d", len(job.drop), 2*nss)
	}
	// The drops in one transaction, then every sweep in the next.
	var st jobState
	err = s.write(ctx, func(w writer) error {
		var err error
		st, _, _, err = job.step(w, newJobState(job), 2*nss*4+nss) // 4 keys a checkpoint, a sweep mark a namespace
		if err == nil && (st.phase != phaseSweep || st.nsIdx != 0) {
			err = fmt.Errorf("after the drops: phase %d, namespace %d", st.phase, st.nsIdx)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.write(ctx, func(w writer) error {
		cw := &idsWalks{writer: w, ids: threadPath("t", bucketOrder)}
		next, stats, _, err := job.step(cw, st, gcTxKeys)
		if err != nil {
			return err
		}
		if next.phase != phaseDone || stats.Blobs != 2*nss {
			return fmt.Errorf("after the sweeps: phase %d, %+v", next.phase, stats)
		}
		// One for the count; hasCheckpoints stops at ids/'s first key.
		if cw.walks > 2 {
			return fmt.Errorf("the sweeps of %d namespaces walked ids/ %d times in one transaction", nss, cw.walks)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
