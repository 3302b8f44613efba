package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestH194FailOnDamageSaysDamage: a store failed by damage its checks
// found (a cause wrapping ErrCorrupt) says so; one failed by an I/O error
// says that. Both are ErrFailed, and keep their cause. On 11c71c3 every
// fail-stop said "store failed after an I/O error".
func TestH194FailOnDamageSaysDamage(t *testing.T) {
	for _, c := range []struct {
		cause     error
		want, not string
		corrupt   bool
	}{
		// cmd/ckpt's damageFailedWords rewrites these words.
		{fmt.Errorf("apply: %w", ErrCorrupt), "ckpt: store failed on damage found in its file; " + DamagedFileAdvice + ": apply", "I/O error", true},
		{errors.New("write: input/output error"), "after an I/O error", "damage", false},
	} {
		var fs FailState
		err := fs.Fail(FailBolt, c.cause)
		if !errors.Is(err, ErrFailed) || !errors.Is(err, c.cause) || errors.Is(err, ErrCorrupt) != c.corrupt {
			t.Errorf("Fail(%v) = %v: want ErrFailed wrapping the cause", c.cause, err)
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, c.not) {
			t.Errorf("Fail(%v) says %q: want %q in it, not %q", c.cause, msg, c.want, c.not)
		}
		if fs.Failed() != err {
			t.Errorf("Failed() = %v, want %v", fs.Failed(), err)
		}
	}
}
