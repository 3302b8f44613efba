package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// A newcomer's GC with a negative rule got "retention policy with a
// negative value: {KeepLast:-1 MaxAge:0s ThreadTTL:0s DryRun:false
// Progress:<nil>}": the whole struct dumped, the func field included,
// and no word of which field or what it must be. The error now names the
// field, its value, and what zero means.
func TestH234NegativePolicyErrorNamesTheField(t *testing.T) {
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "p.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		p    ckpt.Policy
		want string
	}{
		{ckpt.Policy{KeepLast: -1}, "Policy.KeepLast is -1"},
		{ckpt.Policy{MaxAge: -time.Hour}, "Policy.MaxAge is -1h0m0s"},
		{ckpt.Policy{KeepLast: 3, ThreadTTL: -time.Minute}, "Policy.ThreadTTL is -1m0s"},
	} {
		_, err := s.GC(context.Background(), tc.p)
		if !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Fatalf("GC(%+v): %v, want ErrInvalidConfig", tc.p, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "zero") || strings.Contains(msg, "Progress") {
			t.Errorf("GC(%v): %q, want it to say %q and what zero means, without the struct", tc.want, msg, tc.want)
		}
	}
}
