package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

var stateRE = regexp.MustCompile(`(?s)<textarea name="state"[^>]*>(.*?)</textarea>`)

// TestForkKeepsChannelsNobodyEdited: the fork form shows the state as JSON,
// and JSON cannot say everything msgpack holds (a float that is whole, bytes,
// a map with integer keys, NaN, a time, a uint64 past int64). A person who
// edits one channel and submits must get a branch in which every other
// channel is the parent's, value and version: not 1.0 turned into 1, bytes
// into a base64 string, NaN into "NaN".
func TestForkKeepsChannelsNobodyEdited(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "fork.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	state := map[string]any{
		"msg":   "before",
		"float": 1.0,
		"bytes": []byte{0, 1, 2, 0xff},
		"nan":   math.NaN(),
		"when":  time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC),
		"big":   uint64(math.MaxUint64),
		"list":  []any{1.5, 2.0, "x"},
	}
	id, err := s.Save(ctx, "t", state, ckpt.Metadata{"step": 1})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id})
	if err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{AllowWrites: true}))
	_, page := on.get("/checkpoint" + q("t", "t", "id", id))
	tok, text := csrfRE.FindStringSubmatch(page), stateRE.FindStringSubmatch(page)
	if tok == nil || text == nil {
		t.Fatalf("no fork form on the checkpoint page:\n%s", page)
	}
	// Edit one channel the way a person would: the rest of the text stays.
	var edited map[string]json.RawMessage
	if err := json.Unmarshal([]byte(html.UnescapeString(text[1])), &edited); err != nil {
		t.Fatalf("the form's state is not JSON: %v\n%s", err, text[1])
	}
	edited["msg"] = json.RawMessage(`"after"`)
	body, err := json.Marshal(edited)
	if err != nil {
		t.Fatal(err)
	}
	code, resp, h := on.post("/fork", url.Values{"t": {"t"}, "id": {id}, "csrf": {tok[1]}, "state": {string(body)}}, nil)
	if code != 303 {
		t.Fatalf("fork: %d\n%s", code, resp)
	}
	loc, _ := url.Parse(h.Get("Location"))
	child, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: loc.Query().Get("id")})
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	if err := child.Decode("msg", &msg); err != nil || msg != "after" {
		t.Errorf("edited channel: %q %v, want \"after\"", msg, err)
	}
	for ch := range state {
		if ch == "msg" {
			continue
		}
		pv, cv := parent.Checkpoint.ChannelVersions[ch], child.Checkpoint.ChannelVersions[ch]
		praw, _ := parent.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		craw, _ := child.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		if cv != pv || !bytes.Equal(praw, craw) {
			pval, _ := praw.Value()
			cval, _ := craw.Value()
			t.Errorf("unedited channel %s changed by the fork: version %q -> %q, value %#v -> %#v", ch, pv, cv, pval, cval)
		}
	}
}
