package saverkit_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/oklog/ulid/v2"
)

func TestChecksReturnErrInvalidConfig(t *testing.T) {
	long := strings.Repeat("x", saverkit.MaxNameLen+1)
	for name, err := range map[string]error{
		"empty thread":          saverkit.CheckThread(""),
		"long thread":           saverkit.CheckThread(long),
		"long namespace":        saverkit.CheckConfig("t", long),
		"long channel":          saverkit.CheckChannel(long, "1"),
		"long version":          saverkit.CheckChannel("c", long),
		"id not a ULID":         func() error { _, err := saverkit.ParseID("before", "nope"); return err }(),
		"negative limit":        func() error { _, err := saverkit.NewSelector("", nil, "", -1, nil); return err }(),
		"new version disagrees": saverkit.CheckVersion("c", "2", map[string]string{"c": "3"}),
		"own parent":            saverkit.CheckParent("01JABCDEFGHJKMNPQRSTVWXYZ0", "01JABCDEFGHJKMNPQRSTVWXYZ0"),
		"filter not encodable": func() error {
			_, err := saverkit.NewSelector("", nil, "", 0, map[string]any{"f": func() {}})
			return err
		}(),
	} {
		if !errors.Is(err, saverkit.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if err := saverkit.CheckConfig("t", ""); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for _, versions := range []map[string]string{{"c": "2"}, {"other": "1"}, nil} {
		if err := saverkit.CheckVersion("c", "2", versions); err != nil {
			t.Errorf("CheckVersion against %v: %v", versions, err)
		}
	}
}

// A valid channel costs no allocation: Put checks every channel of every
// step, and the version's description is built only for an error.
func TestCheckChannelValidAllocatesNothing(t *testing.T) {
	long := strings.Repeat("x", saverkit.MaxNameLen+1)
	if err := saverkit.CheckChannel("c", long); err == nil || !strings.Contains(err.Error(), `version of channel "c"`) {
		t.Fatalf("long version: %v, want it named", err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = saverkit.CheckChannel("messages", "00000000000000000000000000000001.0.5") }); n != 0 {
		t.Fatalf("a valid channel allocates %.0f times, want 0", n)
	}
}

func TestIDSourceIncreasesPastObservedAndClockSteps(t *testing.T) {
	src := saverkit.NewIDSource()
	now := time.Now()
	future := ulid.MustNew(ulid.Timestamp(now.Add(time.Hour)), nil)
	src.Observe(future)
	prev := future
	for i := range 1000 {
		// The clock also steps back half way through.
		at := now
		if i > 500 {
			at = now.Add(-time.Minute)
		}
		id, err := src.Next(at)
		if err != nil {
			t.Fatal(err)
		}
		if id.Compare(prev) <= 0 {
			t.Fatalf("id %d = %s, not after %s", i, id, prev)
		}
		prev = id
	}
}

// TestIDSourceNeverWrapsAround: past the largest ULID there is no id;
// stepping past it wrapped to the smallest (h205_last_id_test.go).
func TestIDSourceNeverWrapsAround(t *testing.T) {
	src := saverkit.NewIDSource()
	src.Observe(ulid.MustParse("7ZZZZZZZZZZZZZZZZZZZZZZZZY"))
	id, err := src.Next(time.Now())
	if err != nil || id.String() != "7ZZZZZZZZZZZZZZZZZZZZZZZZZ" {
		t.Fatalf("the last id: %s, %v", id, err)
	}
	for range 2 {
		if id, err := src.Next(time.Now()); !errors.Is(err, saverkit.ErrIDsExhausted) || !errors.Is(err, saverkit.ErrInvalidConfig) {
			t.Fatalf("past the last id: %s, %v, want ErrIDsExhausted and ErrInvalidConfig", id, err)
		}
	}
}

func TestWriteIndex(t *testing.T) {
	for _, c := range []struct {
		ch      string
		idx     int
		special bool
	}{
		{saverkit.ChannelError, -1, true},
		{saverkit.ChannelScheduled, -2, true},
		{saverkit.ChannelInterrupt, -3, true},
		{saverkit.ChannelResume, -4, true},
		{"messages", 7, false},
	} {
		idx, special := saverkit.WriteIndex(c.ch, 7)
		if idx != c.idx || special != c.special {
			t.Errorf("WriteIndex(%q, 7) = %d, %v; want %d, %v", c.ch, idx, special, c.idx, c.special)
		}
	}
}

func TestNormalizedFilterMatchesByValue(t *testing.T) {
	type tagged struct {
		Name string `json:"name"`
	}
	md := map[string]any{
		"step": int64(3), "score": 0.5, "big": uint64(math.MaxUint64),
		"who": map[string]any{"name": "ann", "age": int64(40)}, "tags": []any{"a", int64(1)},
	}
	for _, c := range []struct {
		filter map[string]any
		want   bool
	}{
		{map[string]any{"step": 3}, true},
		{map[string]any{"step": uint8(3)}, true},
		{map[string]any{"step": 3.0}, true},
		{map[string]any{"step": 4}, false},
		{map[string]any{"score": float32(0.5)}, true},
		{map[string]any{"big": uint64(math.MaxUint64)}, true},
		{map[string]any{"who": tagged{Name: "ann"}}, true},
		{map[string]any{"who": map[string]any{"name": "bob"}}, false},
		{map[string]any{"tags": []string{"a"}}, false},
		{map[string]any{"tags": []any{"a", 1}}, true},
		{map[string]any{"missing": nil}, false},
		{map[string]any{"score": math.NaN()}, false},
	} {
		sel, err := saverkit.NewSelector("", nil, "", 0, c.filter)
		if err != nil {
			t.Fatalf("%v: %v", c.filter, err)
		}
		if got := saverkit.MatchMetadata(md, sel.Filter); got != c.want {
			t.Errorf("filter %v on %v: %v, want %v", c.filter, md, got, c.want)
		}
	}
}

func TestSelectorKeepsBeforeAndNamespace(t *testing.T) {
	id := ulid.Make()
	ns := "sub"
	sel, err := saverkit.NewSelector("t", &ns, id.String(), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sel.ThreadID != "t" || *sel.Namespace != "sub" || sel.Before == nil || *sel.Before != id || sel.Limit != 5 || sel.Filter != nil {
		t.Fatalf("selector = %+v", sel)
	}
}

func TestWriteOptionsTravelInContext(t *testing.T) {
	type opts struct{ IfHead bool }
	ctx := saverkit.WithWriteOptions(context.Background(), opts{IfHead: true})
	if got := saverkit.WriteOptionsFrom[opts](ctx); !got.IfHead {
		t.Errorf("WriteOptionsFrom = %+v", got)
	}
	if got := saverkit.WriteOptionsFrom[opts](context.Background()); got.IfHead {
		t.Errorf("WriteOptionsFrom of a bare context = %+v", got)
	}
}
