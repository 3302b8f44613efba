package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

var keepRE = regexp.MustCompile(`<input type="checkbox" name="keep" value="([^"]*)" checked>`)

// TestForkOfALargeState: a checkpoint with a channel of several MB. The
// fork form must stay small (the big channel is listed, kept as the
// parent's bytes, not put in the text box, which would make a page of
// megabytes and a POST past the 16 MB limit), and a fork that edits a small
// channel must read back with the big channel byte-identical to the
// parent's, under the same version. Unticking "keep" drops the channel; a
// keep that names no channel of the parent, or a channel both kept and
// edited, is refused.
func TestForkOfALargeState(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	big := strings.Repeat("0123456789abcdef", 5<<20/16) // 5 MB
	id, err := s.Save(ctx, "t", map[string]any{"big": big, "msg": "before", "n": 1}, ckpt.Metadata{"step": 1})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id})
	if err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{AllowWrites: true}))
	code, page := on.get("/checkpoint" + q("t", "t", "id", id))
	if code != 200 {
		t.Fatalf("checkpoint page: %d %s", code, errorText(page))
	}
	if len(page) > 64<<10 {
		t.Errorf("the checkpoint page of a 5 MB state is %d bytes, want under 64 KiB", len(page))
	}
	tok, text := csrfRE.FindStringSubmatch(page), stateRE.FindStringSubmatch(page)
	if tok == nil || text == nil {
		t.Fatalf("no fork form on the checkpoint page:\n%.4000s", page)
	}
	var edited map[string]json.RawMessage
	if err := json.Unmarshal([]byte(html.UnescapeString(text[1])), &edited); err != nil {
		t.Fatalf("the form's state is not JSON: %v\n%.2000s", err, text[1])
	}
	if _, ok := edited["big"]; ok {
		t.Error("the 5 MB channel is in the fork form's text box")
	}
	var kept []string
	for _, m := range keepRE.FindAllStringSubmatch(page, -1) {
		kept = append(kept, m[1])
	}
	if len(kept) != 1 || kept[0] != "big" {
		t.Fatalf("channels kept as the parent's on the form: %q, want [big]", kept)
	}
	edited["msg"] = json.RawMessage(`"after"`)
	body, err := json.Marshal(edited)
	if err != nil {
		t.Fatal(err)
	}
	fork := func(keep ...string) (int, string, *ckpt.Tuple) {
		t.Helper()
		form := url.Values{"t": {"t"}, "id": {id}, "csrf": {tok[1]}, "state": {string(body)}, "keep": keep}
		code, resp, h := on.post("/fork", form, nil)
		if code != 303 {
			return code, errorText(resp), nil
		}
		loc, _ := url.Parse(h.Get("Location"))
		child, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: loc.Query().Get("id")})
		if err != nil {
			t.Fatal(err)
		}
		return code, "", child
	}
	code, msg, child := fork("big", "big") // a repeated keep is one keep
	if child == nil {
		t.Fatalf("fork keeping big: %d %s", code, msg)
	}
	var got string
	if err := child.Decode("msg", &got); err != nil || got != "after" {
		t.Errorf("edited channel: %q %v, want \"after\"", got, err)
	}
	for _, ch := range []string{"big", "n"} {
		praw, _ := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		craw, _ := child.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		pv, cv := parent.Checkpoint.ChannelVersions[ch], child.Checkpoint.ChannelVersions[ch]
		if pv != cv || !bytes.Equal(praw, craw) {
			t.Errorf("channel %s: version %q -> %q, %d bytes -> %d (equal %v), want the parent's", ch, pv, cv, len(praw), len(craw), bytes.Equal(praw, craw))
		}
	}
	if child.Checkpoint.ChannelVersions["msg"] == parent.Checkpoint.ChannelVersions["msg"] {
		t.Error("the edited channel kept its version")
	}

	// Unticked: the big channel is not in the fork.
	if _, _, dropped := fork(); dropped == nil {
		t.Error("fork without keep failed")
	} else if _, ok := dropped.Checkpoint.ChannelValues["big"]; ok {
		t.Error("a channel unticked from keep is still in the fork")
	}
	// Refused: a kept channel the parent has not, one both kept and edited.
	if code, msg, c := fork("big", "nope"); c != nil || code != 400 || !strings.Contains(msg, "nope") {
		t.Errorf("keep of a channel the parent has not: %d %q, want 400 naming it", code, msg)
	}
	edited["big"] = json.RawMessage(`"small now"`)
	if body, err = json.Marshal(edited); err != nil {
		t.Fatal(err)
	}
	if code, msg, c := fork("big"); c != nil || code != 400 || !strings.Contains(msg, "big") {
		t.Errorf("a channel both kept and edited: %d %q, want 400 naming it", code, msg)
	}
	// Edited (keep unticked, a value in the text): the big channel is replaced.
	if _, msg, c := fork(); c == nil {
		t.Errorf("fork replacing big: %s", msg)
	} else if err := c.Decode("big", &got); err != nil || got != "small now" {
		t.Errorf("replaced channel: %q %v", got, err)
	}
}

// TestForkFormTextIsBounded: many channels, each small enough to edit, are
// put in the fork form's text only up to its budget; the rest are listed
// as kept, and a fork that keeps them all and edits one reads back with
// every other channel the parent's, byte for byte.
func TestForkFormTextIsBounded(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "many.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	state := map[string]any{"msg": "before"}
	for i := range 12 {
		state[fmt.Sprintf("c%02d", i)] = strings.Repeat(string(rune('a'+i)), 60<<10)
	}
	id, err := s.Save(ctx, "t", state, nil)
	if err != nil {
		t.Fatal(err)
	}
	parent, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id})
	if err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{AllowWrites: true}))
	_, page := on.get("/checkpoint" + q("t", "t", "id", id))
	if len(page) > 320<<10 {
		t.Errorf("the checkpoint page of 12 channels of 60 KiB is %d bytes, want under 320 KiB", len(page))
	}
	tok, text := csrfRE.FindStringSubmatch(page), stateRE.FindStringSubmatch(page)
	if tok == nil || text == nil {
		t.Fatalf("no fork form on the checkpoint page")
	}
	var edited map[string]json.RawMessage
	if err := json.Unmarshal([]byte(html.UnescapeString(text[1])), &edited); err != nil {
		t.Fatalf("the form's state is not JSON: %v", err)
	}
	var kept []string
	for _, m := range keepRE.FindAllStringSubmatch(page, -1) {
		kept = append(kept, m[1])
	}
	if len(kept) == 0 || len(edited)+len(kept) != len(state) {
		t.Fatalf("%d channels in the text and %d kept (%q), want some kept and %d in all", len(edited), len(kept), kept, len(state))
	}
	if _, ok := edited["msg"]; !ok {
		t.Fatal("the smallest channel is not in the text")
	}
	edited["msg"] = json.RawMessage(`"after"`)
	body, err := json.Marshal(edited)
	if err != nil {
		t.Fatal(err)
	}
	code, resp, h := on.post("/fork", url.Values{"t": {"t"}, "id": {id}, "csrf": {tok[1]}, "state": {string(body)}, "keep": kept}, nil)
	if code != 303 {
		t.Fatalf("fork: %d %s", code, errorText(resp))
	}
	loc, _ := url.Parse(h.Get("Location"))
	child, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: loc.Query().Get("id")})
	if err != nil {
		t.Fatal(err)
	}
	for ch := range state {
		praw, _ := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		craw, _ := child.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if same := bytes.Equal(praw, craw); same == (ch == "msg") {
			t.Errorf("channel %s: equal to the parent's %v, want %v", ch, same, ch != "msg")
		}
	}
}
