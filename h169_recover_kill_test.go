package ckpt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/engine"
)

// A process killed during RecoverLog of a log whose damage costs no group
// (the chain is taken up again past a damaged proof, or the damaged
// header is put back: LogDamage.Resumed), at each of its steps and at
// random moments, then RecoverLog again: the store must read exactly as a
// recovery never killed left it, which kept all 30 acknowledged
// checkpoints (KeptAll); and a recovery run a second time on a recovered
// store changes nothing.
func TestKillDuringRecoverOfResumedDamage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a child process per round")
	}
	base := recoverKillBase(t)
	// recoverKillBase flipped the middle byte of the 20th record's pad (500
	// bytes 19): put it back (the log as written) and damage what costs
	// no group instead.
	log, err := os.ReadFile(base + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(log, bytes.Repeat([]byte{19}, 250))
	if at < 0 || log[at+250] != 19^0xff || !bytes.Equal(log[at+251:at+500], bytes.Repeat([]byte{19}, 249)) {
		t.Fatal("no flipped pad of checkpoint 19 in the log")
	}
	log[at+250] ^= 0xff
	if len(engine.RecordSpans(log)) < 60 {
		t.Fatalf("the log put back holds %d records: want 30 groups and their proofs", len(engine.RecordSpans(log)))
	}
	var proof engine.RecordSpan
	for _, r := range engine.RecordSpans(log) {
		if r.Proof && r.Gen == 5 {
			proof = r
			break
		}
	}
	if proof.End == 0 {
		t.Fatal("no proof of group 5 in the log")
	}
	for _, c := range []struct {
		name string
		at   int64
	}{{"a proof", proof.End - 8}, {"the header", 17}} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(log)
			bad[c.at] ^= 0x20
			copyPair := func() string {
				p := filepath.Join(t.TempDir(), "s.db")
				copyFile(t, base, p)
				if err := os.WriteFile(p+"-wal", bad, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			ref := copyPair()
			st, err := ckpt.RecoverLog(ref, ckpt.Options{})
			if err != nil || !st.KeptAll || st.KeptGroups != 30 {
				t.Fatalf("RecoverLog = %+v, %v: want every one of the 30 groups kept", st, err)
			}
			want := recoverState(t, ref, "never killed")
			if st, err := ckpt.RecoverLog(ref, ckpt.Options{}); err != nil || st.Damaged || st.KeptGroups != 0 {
				t.Errorf("RecoverLog again = %+v, %v: want nothing to do", st, err)
			}
			if got := recoverState(t, ref, "recovered twice"); !bytes.Equal(got, want) {
				t.Error("recovered twice: the store reads differently from once")
			}
			recoveredUpTo(t, ref, 29)
			killedRecoveriesAgree(t, copyPair, want, 169)
		})
	}
}
