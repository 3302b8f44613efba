package ckpt

import (
	"errors"
	"sync/atomic"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// swapFault is a SyncDir hook that fails while it is set.
type swapFault struct {
	fail atomic.Bool
	boom error
}

func newSwapFault() *swapFault {
	return &swapFault{boom: errors.New("directory fsync: input/output error")}
}

func (f *swapFault) tuning() *tuning {
	return &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
		if f.fail.Load() {
			return f.boom
		}
		return engine.SyncDir(dir)
	}}}
}
