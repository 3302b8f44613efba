package web_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// Every place the pages show data the app chose, as markup: a namespace,
// a version, a task id and path, every metadata column, a channel name,
// a pending write's channel, on every page (deep pages and their links,
// the live head, the fork form, the diff of a namespace) is text.
func TestHostileNamespacesTasksAndVersionsAreText(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "h.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ns, th := hostileValue+"ns", hostileThread
	meta := ckpt.Metadata{}
	for _, k := range []string{"step", "source", "node", "route", "reason", "run_id"} {
		meta[k] = hostileValue
	}
	var ids []string
	prev := ""
	for i := range 4 {
		v := hostileValue + string(rune('a'+i))
		out, err := s.Put(ctx, ckpt.Config{ThreadID: th, CheckpointNS: ns, CheckpointID: prev},
			ckpt.Checkpoint{V: 1, ChannelValues: map[string]any{hostileValue: []any{hostileValue, i}}, ChannelVersions: map[string]string{hostileValue: v}},
			meta, map[string]string{hostileValue: v})
		if err != nil {
			t.Fatal(err)
		}
		prev = out.CheckpointID
		ids = append(ids, prev)
		if err := s.PutWrites(ctx, out, []ckpt.Write{{Channel: hostileValue, Value: hostileValue}}, hostileValue, hostileValue); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, web.Handler(s, web.Options{AllowWrites: true, PageSize: 2}))
	for _, path := range []string{
		"/", "/" + q("q", hostileValue), "/stats",
		"/thread" + q("t", th), "/thread" + q("t", th, "ns", ns), "/thread" + q("t", th, "ns", ns, "before", ids[2]),
		"/thread" + q("t", th, "filter", "node="+hostileValue, "before", ids[2]),
		"/checkpoint" + q("t", th, "ns", ns, "id", ids[1]), "/value" + q("t", th, "ns", ns, "id", ids[1], "ch", hostileValue),
		"/value" + q("t", th, "ns", ns, "id", ids[1], "ch", hostileValue, "fragment", "1"),
		"/diff" + q("t", th, "ns", ns, "a", ids[0], "b", ids[3]),
		"/diff" + q("t", th, "ns", hostileValue, "a", ids[0], "b", ids[3]),
		"/checkpoint" + q("t", th, "ns", ns, "id", hostileValue),
	} {
		code, body := c.get(path)
		if code >= 500 {
			t.Errorf("GET %s: %d\n%s", path, code, errorText(body))
		}
		if path == "/value"+q("t", th, "ns", ns, "id", ids[1], "ch", hostileValue, "fragment", "1") {
			// A fragment has no layout, so no <script> at all.
			body = `<script src="/static/app.js"></script>` + body
		}
		checkNoMarkup(t, path, body)
	}
}
