package redisstore

import (
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/checkpointtest"
	"github.com/redis/go-redis/v9"
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

func TestConformanceRESP2(t *testing.T) {
	// The same contract over RESP2 (Options.Redis.Protocol 2, as through
	// a proxy that speaks only RESP2): replies arrive in RESP2's types.
	srv := sharedServer(t)
	checkpointtest.Run(t, func(t *testing.T) ckpt.Saver {
		return newTestStore(t, srv, Options{Redis: &redis.Options{Addr: srv.Addr(), Protocol: 2}})
	})
}
