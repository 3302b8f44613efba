package main

import (
	"strings"
	"testing"
)

// TestFailedAdviceOnDamage: the line the command prints for a store
// failed by damage (the library's words in ErrFailed's place, pinned by
// internal/engine's TestH194FailOnDamageSaysDamage) says damage, not an
// I/O error, gives the cause once and verify's advice.
func TestFailedAdviceOnDamage(t *testing.T) {
	err := "ckpt: " + damageFailedWords + ": ckpt: apply write-ahead log to the store: ckpt: corrupt data: page 31"
	if c := failureCause(errString(err)); c != "apply write-ahead log to the store: corrupt data: page 31" {
		t.Errorf("failureCause = %q", c)
	}
	msg := failedAdvice(strings.ReplaceAll(err, "ckpt: ", ""), "s.db", nil)
	if strings.Contains(msg, "I/O error") || strings.Contains(msg, "reopen it") || !strings.Contains(msg, "damage found") ||
		!strings.HasSuffix(msg, "; run 'ckpt verify s.db'") {
		t.Errorf("failedAdvice says %q", msg)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
