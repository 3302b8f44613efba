package difftest

// The oracle: LangGraph.js's savers run by the node driver in testdata,
// spoken to in JSON lines, and the conversion of the store's answers to
// the same JSON.

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

type oracle struct {
	cmd *exec.Cmd
	in  *json.Encoder
	out *bufio.Scanner
}

func startOracle(t *testing.T) *oracle {
	t.Helper()
	if os.Getenv("CKPT_DIFF") != "1" {
		t.Skip("differential test against LangGraph.js: set CKPT_DIFF=1 (needs node and testdata/driver/node_modules)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "testdata", "driver")
	for _, p := range []string{"@langchain/langgraph-checkpoint", "@langchain/langgraph-checkpoint-sqlite", "better-sqlite3"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			t.Skipf("%s not installed: cd %s && npm ci", p, dir)
		}
	}
	cmd := exec.Command(node, filepath.Join(dir, "driver.mjs"))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); cmd.Wait() })
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &oracle{cmd: cmd, in: json.NewEncoder(w), out: sc}
}

type result struct {
	OK  json.RawMessage `json:"ok"`
	Err *string         `json:"err"`
}

type answer struct {
	Mem result `json:"mem"`
	SQL result `json:"sql"`
}

func (o *oracle) call(t *testing.T, req map[string]any) answer {
	t.Helper()
	if err := o.in.Encode(req); err != nil {
		t.Fatalf("oracle: %v", err)
	}
	if !o.out.Scan() {
		t.Fatalf("oracle ended: %v", o.out.Err())
	}
	var a answer
	if err := json.Unmarshal(o.out.Bytes(), &a); err != nil {
		t.Fatalf("oracle answer %q: %v", o.out.Bytes(), err)
	}
	return a
}

// jsonValue turns any Go value into the generic JSON shape (float64
// numbers, map[string]any, []any), so both sides compare alike.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func cfgJSON(c ckpt.Config) map[string]any {
	return map[string]any{"thread_id": c.ThreadID, "checkpoint_ns": c.CheckpointNS, "checkpoint_id": c.CheckpointID}
}

// tupleJSON is a ckpt tuple in the driver's shape.
func tupleJSON(t *testing.T, tp *ckpt.Tuple) any {
	t.Helper()
	vals := map[string]any{}
	for ch, v := range tp.Checkpoint.ChannelValues {
		var x any
		if err := v.(ckpt.Raw).Decode(&x); err != nil {
			t.Fatalf("decode channel %q: %v", ch, err)
		}
		vals[ch] = x
	}
	writes := []any{}
	for _, w := range tp.PendingWrites {
		var x any
		if err := w.Value.Decode(&x); err != nil {
			t.Fatalf("decode write: %v", err)
		}
		writes = append(writes, []any{w.TaskID, w.Channel, x})
	}
	var parent any
	if tp.ParentConfig != nil {
		parent = cfgJSON(*tp.ParentConfig)
	}
	versions, seen := tp.Checkpoint.ChannelVersions, tp.Checkpoint.VersionsSeen
	if versions == nil {
		versions = map[string]string{}
	}
	if seen == nil {
		seen = map[string]map[string]string{}
	}
	return jsonValue(t, map[string]any{
		"config": cfgJSON(tp.Config),
		"parent": parent,
		"checkpoint": map[string]any{
			"v": tp.Checkpoint.V, "id": tp.Checkpoint.ID, "ts": tp.Checkpoint.TS.UTC().Format(time.RFC3339Nano),
			"channel_values": vals, "channel_versions": versions, "versions_seen": seen,
		},
		"metadata":       map[string]any(tp.Metadata),
		"pending_writes": writes,
	})
}

func decodeOK(t *testing.T, r result) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.OK, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
