package web_test

// Issue 14, held-out spec through the history browser: bytes flipped
// inside stored values, list items, metadata and pending writes of a
// closed store. The checkpoint, value and diff pages of a damaged
// checkpoint answer with an error status, never the damaged bytes; the
// thread page never shows them; sound checkpoints show their values.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

func TestSpec14FlippedBytesInTheBrowser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flip.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 11))
	type mk struct{ thread, ns, kind string }
	marks := map[string]mk{}
	mark := func(m mk) string {
		const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
		b := make([]byte, 18)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		marks[string(b)] = m
		return string(b)
	}
	type cp struct {
		thread, ns, id, note string
		deps                 []string
	}
	var cps []cp
	for th := range 6 {
		thread := fmt.Sprintf("web-%d", th)
		for _, ns := range []string{"", "agent:2"} {
			cfg := ckpt.Config{ThreadID: thread, CheckpointNS: ns}
			var items []any
			var itemMarks []string
			for step := range 6 {
				it := mark(mk{thread, ns, "item"})
				items, itemMarks = append(items, "item "+it), append(itemMarks, it)
				note, meta, write := mark(mk{thread, ns, "value"}), mark(mk{thread, ns, "meta"}), mark(mk{thread, ns, "write"})
				v := fmt.Sprint(step + 1)
				cfg, err = s.Put(ctx, cfg, ckpt.Checkpoint{
					ChannelValues:   map[string]any{"messages": slices.Clone(items), "note": "note " + note},
					ChannelVersions: map[string]string{"messages": v, "note": v},
				}, ckpt.Metadata{"tag": meta, "step": step}, map[string]string{"messages": v, "note": v})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "inbox", Value: "write " + write}}, "task", "p"); err != nil {
					t.Fatal(err)
				}
				cps = append(cps, cp{thread, ns, cfg.CheckpointID, note, append([]string{note, meta, write}, itemMarks...)})
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]string, 0, len(marks))
	for m := range marks {
		all = append(all, m)
	}
	slices.Sort(all)
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	bad := map[string]bool{}
	lineage := map[string]bool{}
	var damaged [][]byte
	for _, m := range all[:30] {
		d := []byte(m)
		d[rng.IntN(len(d))] ^= byte(1 + rng.IntN(255))
		if !bytes.Contains(file, []byte(m)) {
			t.Fatalf("marker %s not in the file", m)
		}
		file = bytes.ReplaceAll(file, []byte(m), d)
		damaged = append(damaged, d)
		bad[m] = true
		if marks[m].kind == "item" {
			lineage[marks[m].thread+"/"+marks[m].ns] = true
		}
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	c := newClient(t, web.Handler(ro, web.Options{}))
	get := func(page string, kv ...string) (int, string) {
		t.Helper()
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		code, body := c.get(page + "?" + v.Encode())
		for _, d := range damaged {
			if bytes.Contains([]byte(body), d) {
				t.Fatalf("%s %v shows damaged bytes %q", page, kv, d)
			}
		}
		if strings.Contains(body, "goroutine ") {
			t.Fatalf("%s %v: a stack trace", page, kv)
		}
		return code, body
	}
	affected := func(c cp) bool {
		for _, d := range c.deps {
			if bad[d] {
				return true
			}
		}
		return false
	}
	hits := 0
	for i, cp := range cps {
		maybe := lineage[cp.thread+"/"+cp.ns]
		for _, page := range []string{"/checkpoint", "/value"} {
			code, body := get(page, "t", cp.thread, "ns", cp.ns, "id", cp.id, "ch", "note")
			switch {
			case affected(cp) && code < 400:
				t.Fatalf("%s of damaged checkpoint %s/%q/%s: status %d", page, cp.thread, cp.ns, cp.id, code)
			case !affected(cp) && !maybe && code != 200:
				t.Fatalf("%s of sound checkpoint %s/%q/%s: status %d\n%.500s", page, cp.thread, cp.ns, cp.id, code, body)
			case code == 200 && !strings.Contains(body, cp.note):
				t.Fatalf("%s of %s/%q/%s does not show its note", page, cp.thread, cp.ns, cp.id)
			}
		}
		if affected(cp) {
			hits++
		}
		if i > 0 && cps[i-1].thread == cp.thread && cps[i-1].ns == cp.ns {
			code, _ := get("/diff", "t", cp.thread, "ns", cp.ns, "a", cps[i-1].id, "b", cp.id)
			if (affected(cp) || affected(cps[i-1])) && code < 400 {
				t.Fatalf("diff with a damaged checkpoint of %s/%q: status %d", cp.thread, cp.ns, code)
			}
		}
	}
	for th := range 6 {
		get("/thread", "t", fmt.Sprintf("web-%d", th))
	}
	get("/")
	if hits == 0 {
		t.Fatal("no damaged checkpoint: the test does not test")
	}
}
