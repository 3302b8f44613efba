package redisstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
)

// After a failover the address a store knows may be a replica: its writes
// fail with Redis's READONLY, having written nothing. That is Redis not
// reachable for writes there (retry once the primary is known), so
// ErrUnavailable, not an untyped error; reads go on.
func TestWritesOnAReplicaAreErrUnavailable(t *testing.T) {
	a := ownServer(t)
	b := ownServer(t)
	s := newTestStore(t, a, Options{})
	c := step(t, s, ckpt.Config{ThreadID: "r"}, 1)
	host, port, _ := strings.Cut(b.Addr(), ":")
	if err := s.Client().Do(bg, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(bg, c, ckpt.Checkpoint{}, nil, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put on a replica: %v, want ErrUnavailable", err)
	}
	if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: 1}}, "task", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put writes on a replica: %v, want ErrUnavailable", err)
	}
	if _, err := New(bg, Options{Addr: a.Addr(), Prefix: uniquePrefix()}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New on a replica: %v, want ErrUnavailable", err)
	}
}

type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

// Replies of a Redis that cannot serve the call now (loading its data, a
// replica cut from its primary, a script running past its time) are
// ErrUnavailable: go-redis retries them, and when its retries ran out the
// caller should retry later too.
func TestServerNotReadyRepliesAreErrUnavailable(t *testing.T) {
	for _, msg := range []string{
		"LOADING Redis is loading the dataset in memory",
		"READONLY You can't write against a read only replica.",
		"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
		"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
		"TRYAGAIN Multiple keys request during rehashing of slot",
	} {
		if err := wrapErr(bg, "put", replyErr(msg)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%q: %v, want ErrUnavailable", msg, err)
		}
	}
	if err := wrapErr(bg, "put", replyErr("ERR unknown command")); errors.Is(err, ErrUnavailable) {
		t.Errorf("another error reply is ErrUnavailable: %v", err)
	}
}

// A replica that accepts writes (replica-read-only no) keeps them only
// until its next sync with its primary: acknowledged puts would vanish.
// New refuses a replica, writable or not (ErrUnavailable: the address does
// not name the primary, as after a failover), and writes nothing there.
func TestNewRefusesAReplica(t *testing.T) {
	redistest.Need(t)
	a, err := redistest.Start(t.TempDir(), "--replica-read-only", "no")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Kill()
	b := ownServer(t)
	admin := newTestStore(t, a, Options{}).Client()
	host, port, _ := strings.Cut(b.Addr(), ":")
	if err := admin.ReplicaOf(bg, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	p := uniquePrefix()
	s, err := New(bg, Options{Addr: a.Addr(), Prefix: p})
	if !errors.Is(err, ErrUnavailable) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("New on a writable replica: %v, want ErrUnavailable", err)
	}
	if n, err := admin.Exists(bg, keys{p}.format()).Result(); err != nil || n != 0 {
		t.Fatalf("New wrote on the replica: %d %v", n, err)
	}
}
