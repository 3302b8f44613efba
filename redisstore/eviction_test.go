package redisstore

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// A Redis that may evict keys (maxmemory-policy other than noeviction)
// would drop checkpoint keys under memory pressure, and with them
// acknowledged writes (a thread missing some of its keys reads wrong):
// New refuses it.
func TestNewRefusesARedisThatEvicts(t *testing.T) {
	redistest.Need(t)
	srv, err := redistest.Start(t.TempDir(), "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	for _, policy := range []string{"allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"} {
		if err := admin.ConfigSet(bg, "maxmemory-policy", policy).Err(); err != nil {
			t.Fatal(err)
		}
		s, err := New(bg, Options{Addr: srv.Addr(), Prefix: uniquePrefix()})
		if !errors.Is(err, ckpt.ErrInvalidConfig) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("New on a Redis with maxmemory-policy %s: %v, want ErrInvalidConfig", policy, err)
		}
	}
	if err := admin.ConfigSet(bg, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	newTestStore(t, srv, Options{})
}

// A Redis that does not let the store read its configuration cannot be
// checked: New accepts it (docs/redis.md asks for noeviction).
func TestNewAcceptsARedisWithoutConfig(t *testing.T) {
	redistest.Need(t)
	srv, err := redistest.Start(t.TempDir(), "--rename-command", "CONFIG", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := newTestStore(t, srv, Options{})
	step(t, s, ckpt.Config{ThreadID: "c"}, 1)
}
