package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// Through Sentinel (Options.Failover) the store follows the primary across
// a failover: puts replicated before it read back from the new primary,
// and while it runs a call fails only with ErrUnavailable (the old primary
// turned replica answers READONLY, connections break), never with an
// untyped error or a wrong read.
func TestSentinelFailoverIsFollowed(t *testing.T) {
	redistest.Need(t)
	if testing.Short() {
		t.Skip("runs a failover")
	}
	// No wait before the replica's first sync (diskless sync waits 5 s
	// for more replicas by default).
	primary, err := redistest.Start(t.TempDir(), "--repl-diskless-sync-delay", "0")
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Kill()
	replica := ownServer(t)
	admin := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	host, port, _ := strings.Cut(primary.Addr(), ":")
	if err := admin(replica.Addr()).ReplicaOf(bg, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(admin(replica.Addr()).Info(bg, "replication").Val(), "master_link_status:up") {
		time.Sleep(20 * time.Millisecond)
	}
	sentinel, err := redistest.StartSentinel(t.TempDir(), "m", primary.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Kill()

	s, err := New(bg, Options{Prefix: uniquePrefix(), Failover: &redis.FailoverOptions{
		MasterName: "m", SentinelAddrs: []string{sentinel.Addr()}, MaxRetries: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before []ckpt.Config
	c := ckpt.Config{ThreadID: "before"}
	for n := range 5 {
		c = step(t, s, c, n+1)
		before = append(before, c)
	}
	if err := admin(primary.Addr()).Do(bg, "WAIT", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}
	// Sentinel learns of the replica from the primary's INFO, then reads
	// the replica's own: until then no replica is good to promote
	// (NOGOODSLAVE). Ask again until the failover starts.
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr()})
	defer sc.Close()
	for tries := 0; ; tries++ {
		err := sc.Failover(bg, "m").Err()
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "NOGOODSLAVE") || tries == 1000 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A bound for a failover that never completes, not a measure.
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	var after ckpt.Config
	for {
		after, err = s.Put(ctx, ckpt.Config{ThreadID: "after"}, ckpt.Checkpoint{}, nil, nil)
		if err == nil {
			// Done once the put reached the new primary; one the old
			// primary took before the switch may be lost (replication is
			// asynchronous): put again.
			nr := admin(replica.Addr())
			role, _ := nr.Do(bg, "ROLE").Slice()
			if len(role) > 0 && role[0] == "master" && nr.HExists(bg, s.keys.thread("after")[kCP], cpField("", after.CheckpointID)).Val() {
				break
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("put during the failover: %v, want ErrUnavailable", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the failover did not complete")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range append(before, after) {
		tp, err := s.GetTuple(bg, c)
		if err != nil || tp.Config != c {
			t.Fatalf("after the failover, %v reads %v, %v", c, tp, err)
		}
	}
}

// Sentinels that cannot name the primary (not Sentinels at all, or not
// watching that name) are a primary not reachable: ErrUnavailable, as
// Sentinels that do not answer.
func TestSentinelWithoutThePrimaryIsErrUnavailable(t *testing.T) {
	srv := sharedServer(t)
	sentinel, err := redistest.StartSentinel(t.TempDir(), "m", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Kill()
	for _, c := range []struct{ what, addr, name string }{
		{"a Redis that is no Sentinel", srv.Addr(), "m"},
		{"a Sentinel that watches no such name", sentinel.Addr(), "other"},
	} {
		s, err := New(bg, Options{Prefix: uniquePrefix(), Failover: &redis.FailoverOptions{
			MasterName: c.name, SentinelAddrs: []string{c.addr}, MaxRetries: -1, DialerRetries: 1}})
		if !errors.Is(err, ErrUnavailable) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: %v, want ErrUnavailable", c.what, err)
		}
	}
}
