package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestDiffJSONNamesThatAreNotUTF8: 'ckpt diff --json' of a thread whose
// id, namespace and channels are not UTF-8 printed U+FFFD for their
// bytes, as threads, log and show did (TestJSONNamesThatAreNotUTF8RoundTrip):
// it prints them Go-quoted, the form the commands take back.
func TestDiffJSONNamesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "names.db")
	const bad, ns = "b\xff", "n\xfe"
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := ckpt.Config{ThreadID: bad, CheckpointNS: ns}
	var ids []string
	for i, chans := range []map[string]any{{"gone\xff": 1, "same\xfe": 1, "chg\xfd": 1}, {"same\xfe": 1, "chg\xfd": 2, "new\xfc": 1}} {
		vs := map[string]string{}
		for ch := range chans {
			vs[ch] = "1"
		}
		if i == 1 {
			vs["chg\xfd"], vs["new\xfc"] = "2", "2"
		}
		cfg, err = s.Put(ctx, cfg, ckpt.Checkpoint{ChannelValues: chans, ChannelVersions: vs}, ckpt.Metadata{"step": i}, vs)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cfg.CheckpointID)
		cfg.CheckpointID = ""
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := ok(t, dir, "diff", "--json", "--ns", `"n\xfe"`, db, `"b\xff"`, ids[0], ids[1])
	if strings.Contains(r.stdout, "\ufffd") || strings.Contains(r.stdout, `\ufffd`) {
		t.Fatalf("U+FFFD in the output:\n%s", r)
	}
	d := decodeJSON[struct {
		Thread    string           `json:"thread"`
		NS        string           `json:"ns"`
		Added     map[string]any   `json:"added"`
		Removed   map[string]any   `json:"removed"`
		Changed   []map[string]any `json:"changed"`
		Unchanged []string         `json:"unchanged"`
	}](t, r)
	_, added := d.Added[`"new\xfc"`]
	_, removed := d.Removed[`"gone\xff"`]
	if d.Thread != `"b\xff"` || d.NS != `"n\xfe"` || !added || !removed || len(d.Changed) != 1 || d.Changed[0]["channel"] != `"chg\xfd"` ||
		len(d.Unchanged) != 1 || d.Unchanged[0] != `"same\xfe"` {
		t.Fatalf("diff --json: want every name Go-quoted:\n%s", r.stdout)
	}
}
