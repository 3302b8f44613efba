package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH34ZeroedLogHeaderSectorNeverLosesAcknowledgedWrites: the log's
// first 512-byte sector zeroed (the damage TestH34KillAndDamage draws for
// a sector of the log's first record; seed 1014 of its hunt), or only its
// 24-byte header, in the files a killed process left (copied while the
// store is open, the applier held: every group is in the log only). Open,
// read-only and read-write, must refuse the log (ErrCorrupt) or hold every
// acknowledged Sync write. Found by the h34 hunt: with the magic and the
// identity gone, scanLog reads the file as a log of the format before the
// header whose first append was cut short (no record of this format parses
// at offset 24 under the zeroed identity), an empty log: every
// acknowledged write in it is silently lost, and a read-write Open goes on
// without them: it replaces the log with a new one (48 bytes), so not
// even `ckpt recover` can find the records afterwards. (A single byte of
// the header flipped, or its magic zeroed, is refused: the identity in
// the header still checks the records after it. scanLog could check them
// under the identity the store file's binding names, Mark.Binding.)
func TestH34ZeroedLogHeaderSectorNeverLosesAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 4 {
		id, err := s.Save(ctx, "t", map[string]any{"n": i, "msg": fmt.Sprintf("acknowledged %d", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// What a kill leaves: the file and its log as they are now.
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for _, zeroed := range []int{0, 512, 24} {
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("zeroed=%d/readonly=%v", zeroed, ro), func(t *testing.T) {
				cp := filepath.Join(t.TempDir(), "c.db")
				img := append([]byte(nil), log...)
				clear(img[:zeroed])
				if err := os.WriteFile(cp, db, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cp+walSuffix, img, 0o600); err != nil {
					t.Fatal(err)
				}
				c, err := Open(cp, Options{ReadOnly: ro})
				if errors.Is(err, ErrCorrupt) && zeroed != 0 {
					return // refused: damage reported
				}
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer c.Close()
				for i, id := range ids {
					if _, err := c.Load(ctx, "t", id); err != nil {
						t.Errorf("the log's first %d bytes zeroed: Open succeeded without acknowledged Sync Save %d (%s): %v", zeroed, i, id, err)
					}
				}
			})
		}
	}
}
