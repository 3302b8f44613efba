package redisstore

import (
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/checkpointtest"
)

func TestConformance(t *testing.T) {
	srv := sharedServer(t)
	checkpointtest.Run(t, func(t *testing.T) ckpt.Saver { return newTestStore(t, srv, Options{}) })
}

func TestConformanceWithTTLAndKeepLast(t *testing.T) {
	// The same contract holds with a thread TTL (long enough not to fire)
	// and keep-last-N larger than any history the kit builds.
	srv := sharedServer(t)
	checkpointtest.Run(t, func(t *testing.T) ckpt.Saver {
		return newTestStore(t, srv, Options{ThreadTTL: time.Hour, KeepLast: 1000})
	})
}
