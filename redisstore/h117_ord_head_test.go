package redisstore

// h117-hunt: GetTuple of a namespace's head reads the newest member of the
// thread's ord set and then the checkpoint it names. A member that names
// no checkpoint (added to ord by hand, or left by damage) made GetTuple
// answer ckpt.ErrNotFound for a thread that has checkpoints, and a member
// ending in byte 0xff made the script fail with a Lua error ("bad argument
// to 'char'") instead of a CorruptError.

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

func TestH117DamagedHeadMemberIsCorrupt(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	c := ckpt.Config{ThreadID: "x"}
	for n := 1; n <= 2; n++ {
		c = step(t, s, c, n)
	}
	keys := s.keys.thread("x")
	rdb := s.Client()
	good := cpField("", c.CheckpointID)
	cpVal, _ := rdb.HGet(bg, keys[kCP], good).Result()
	mdVal, _ := rdb.HGet(bg, keys[kMD], good).Result()
	for _, tc := range []struct {
		name, member string
		withValues   bool // the member also has a checkpoint value and metadata
	}{
		{"a short member", "\x00\x00zz", false},
		{"a member naming no checkpoint", "\x00\x00" + "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{"a member ending in 0xff", "\x00\x00" + "7ZZZZZZZZZZZZZZZZZZZZZZZZ\xff", false},
		{"a member ending in 0xff, with values", "\x00\x00" + "7ZZZZZZZZZZZZZZZZZZZZZZZZ\xff", true},
	} {
		rdb.ZAdd(bg, keys[kOrd], redis.Z{Member: tc.member})
		if tc.withValues {
			rdb.HSet(bg, keys[kCP], tc.member, cpVal)
			rdb.HSet(bg, keys[kMD], tc.member, mdVal)
		}
		_, err := s.GetTuple(bg, ckpt.Config{ThreadID: "x"})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Key != keys[kOrd] || ce.Field != tc.member {
			t.Errorf("head of a namespace whose ord set holds %s: %v, want a CorruptError naming %q field %q", tc.name, err, keys[kOrd], tc.member)
		}
		rdb.ZRem(bg, keys[kOrd], tc.member)
		rdb.HDel(bg, keys[kCP], tc.member)
		rdb.HDel(bg, keys[kMD], tc.member)
		if tp, err := s.GetTuple(bg, ckpt.Config{ThreadID: "x"}); err != nil || tp.Config.CheckpointID != c.CheckpointID {
			t.Fatalf("head after the repair: %v", err)
		}
	}
}
