package ckpt_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A List page gathers a channel's value again, without reading its blob,
// when the previous tuple had the same blob key (tupleread_memo.go). Two
// threads, two namespaces in each, whose channels have the same versions but other
// values must never take each other's value, nor a later checkpoint that
// changed a channel its predecessor's: every tuple, listed across threads
// and namespaces (which alternate, newest first) and within one, holds what
// its own Put stored. Plain values and list channels (a reference to
// segments) alike.
func TestListTakesNoOtherNamespacesValue(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	type want struct {
		thread, ns, ctxValue string
		msgs                 []string
		turn                 int
	}
	extra := []string{"e1", "e2", "e3", "e4", "e5"}
	byID := map[string]want{}
	parents := map[string]string{}
	msgs := map[string][]string{}
	for step := range 6 {
		for _, place := range []string{"t/", "t/sub", "u/", "u/sub"} {
			thread, ns, _ := strings.Cut(place, "/")
			ver := fmt.Sprint(step + 1)
			msgs[place] = append(msgs[place], fmt.Sprintf("%s message %d", place, step))
			values := map[string]any{"messages": msgs[place], "turn": step}
			newVersions := map[string]string{"messages": ver, "turn": ver}
			ctxValue := "context of " + place
			if step >= 3 { // the context changes once, everywhere at the same step
				ctxValue = "later context of " + place
			}
			if step == 0 || step == 3 {
				values["context"] = ctxValue
				newVersions["context"] = fmt.Sprint(step + 1)
			}
			if step == 0 { // more channels than a reader has room for
				for _, ch := range extra {
					values[ch] = ch + " of " + place
					newVersions[ch] = "1"
				}
			}
			cp := ckpt.Checkpoint{
				V: 4, ChannelValues: values,
				ChannelVersions: map[string]string{"messages": ver, "turn": ver, "context": fmt.Sprint(1 + 3*(step/3))},
			}
			for _, ch := range extra {
				cp.ChannelVersions[ch] = "1"
			}
			if step%2 == 1 { // an unchanged turn: the same version as before
				delete(values, "turn")
				delete(newVersions, "turn")
				cp.ChannelVersions["turn"] = fmt.Sprint(step)
			}
			cfg, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parents[place]}, cp, ckpt.Metadata{"step": step}, newVersions)
			if err != nil {
				t.Fatal(err)
			}
			parents[place] = cfg.CheckpointID
			turn := step
			if step%2 == 1 {
				turn = step - 1
			}
			byID[cfg.CheckpointID] = want{thread: thread, ns: ns, ctxValue: ctxValue, msgs: append([]string(nil), msgs[place]...), turn: turn}
		}
	}
	for _, opts := range []ckpt.ListOptions{
		{ThreadID: "t"}, {ThreadID: "t", Namespace: ckpt.NS("")}, {ThreadID: "t", Namespace: ckpt.NS("sub")},
		{ThreadID: "t", Limit: 5}, {ThreadID: "t", Filter: map[string]any{"step": 4}}, {}, {Namespace: ckpt.NS("sub")},
	} {
		n := 0
		for tup, err := range s.List(ctx, opts) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			w, ok := byID[tup.Config.CheckpointID]
			if !ok || tup.Config.ThreadID != w.thread || tup.Config.CheckpointNS != w.ns {
				t.Fatalf("%+v: listed %s in thread %q namespace %q, not stored there", opts, tup.Config.CheckpointID, tup.Config.ThreadID, tup.Config.CheckpointNS)
			}
			var ctxValue string
			var got []string
			var turn int
			if err := tup.Decode("context", &ctxValue); err != nil {
				t.Fatal(err)
			}
			if err := tup.Decode("messages", &got); err != nil {
				t.Fatal(err)
			}
			if err := tup.Decode("turn", &turn); err != nil {
				t.Fatal(err)
			}
			for _, ch := range extra {
				var v string
				if err := tup.Decode(ch, &v); err != nil {
					t.Fatal(err)
				}
				if want := ch + " of " + w.thread + "/" + w.ns; v != want {
					t.Errorf("%+v: checkpoint %s holds %s = %q, its Put stored %q", opts, tup.Config.CheckpointID, ch, v, want)
				}
			}
			if ctxValue != w.ctxValue || fmt.Sprint(got) != fmt.Sprint(w.msgs) || turn != w.turn {
				t.Errorf("%+v: checkpoint %s (namespace %q) holds context %q, messages %q, turn %d; its Put stored %q, %q, %d",
					opts, tup.Config.CheckpointID, w.ns, ctxValue, got, turn, w.ctxValue, w.msgs, w.turn)
			}
		}
		if n == 0 {
			t.Fatalf("%+v: listed nothing", opts)
		}
	}
}
