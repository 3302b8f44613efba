package einockpt_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	einockpt "github.com/ckpt-go/ckpt/integrations/eino"
	"github.com/cloudwego/eino/compose"
)

var ctx = context.Background()

// storeFile is a ckpt file that a test opens, closes and reopens, as a
// process would across restarts.
type storeFile struct {
	t     *testing.T
	path  string
	store *ckpt.Store
}

func newStoreFile(t *testing.T) *storeFile {
	t.Helper()
	f := &storeFile{t: t, path: filepath.Join(t.TempDir(), "eino.db")}
	f.open()
	t.Cleanup(func() {
		if f.store != nil {
			_ = f.store.Close()
		}
	})
	return f
}

func (f *storeFile) open() *ckpt.Store {
	f.t.Helper()
	s, err := ckpt.Open(f.path, ckpt.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.store = s
	return s
}

// restart closes the store and opens the same file again.
func (f *storeFile) restart() *ckpt.Store {
	f.t.Helper()
	if err := f.store.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.store = nil
	return f.open()
}

// history returns the snapshots of id's thread, newest first.
func history(t *testing.T, store *ckpt.Store, cs *einockpt.CheckPointStore, id string) []*ckpt.Snapshot {
	t.Helper()
	var out []*ckpt.Snapshot
	for snap, err := range store.History(ctx, cs.ThreadID(id), ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, snap)
	}
	return out
}

// mustInterrupt fails the test unless err is an eino interrupt, and returns
// its info.
func mustInterrupt(t *testing.T, err error) *compose.InterruptInfo {
	t.Helper()
	if err == nil {
		t.Fatal("run finished, want an interrupt")
	}
	info, ok := compose.ExtractInterruptInfo(err)
	if !ok {
		t.Fatalf("run failed with %v, want an interrupt", err)
	}
	return info
}

// rootCauseID returns the id of the single root-cause interrupt in info.
func rootCauseID(t *testing.T, contexts []*compose.InterruptCtx) string {
	t.Helper()
	var ids []string
	for _, c := range contexts {
		if c.IsRootCause {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want one root-cause interrupt, got %d in %+v", len(ids), contexts)
	}
	return ids[0]
}
