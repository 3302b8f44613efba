package main

// The peer: LangGraph.js's SqliteSaver, run by the shared harness
// (shared/peers/langgraphjs: run.sh + bench.mjs). Its folder may be
// read-only, so it is copied (without node_modules) into a cache folder
// that run.sh installs its npm packages into on first use.

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed peer_checksum.mjs
var peerChecksumJS []byte

// peerFiles are the harness files copied into the cache.
var peerFiles = []string{"bench.mjs", "package.json", "package-lock.json", "README.md", "run.sh"}

// errPeerInput: the peer would run on other input than ckpt.
var errPeerInput = errors.New("peer input differs from ckpt's")

// peer runs the harness from its cache folder.
type peer struct {
	dir    string    // the cache folder holding the harness and node_modules
	stderr io.Writer // where the harness's progress goes
}

// setupPeer copies the harness from src into cache (fresh files only; a
// changed lockfile drops node_modules so run.sh installs again) and
// installs its packages by printing one text through it, which must equal
// ours.
func setupPeer(ctx context.Context, src, cache string, stderr io.Writer) (*peer, error) {
	for _, tool := range []string{"node", "npm", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("peer langgraphjs needs %s (Node 20 + npm): %w", tool, err)
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	for _, f := range peerFiles {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return nil, fmt.Errorf("peer harness: %w (set --peer-src)", err)
		}
		dst := filepath.Join(cache, f)
		old, _ := os.ReadFile(dst)
		if bytes.Equal(old, b) {
			continue
		}
		if f == "package-lock.json" {
			if err := os.RemoveAll(filepath.Join(cache, "node_modules")); err != nil {
				return nil, err
			}
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(cache, "peer_checksum.mjs"), peerChecksumJS, 0o644); err != nil {
		return nil, err
	}
	p := &peer{dir: cache, stderr: stderr}
	const seed, n = 1_000_003, 200
	got, err := p.text(ctx, seed, n)
	if err != nil {
		return nil, err
	}
	if want := text(seed, n); got != want {
		return nil, fmt.Errorf("%w: text(%d, %d) is %q there, %q here", errPeerInput, seed, n, got, want)
	}
	return p, nil
}

// text returns the peer's text(seed, n) (run.sh --text).
func (p *peer) text(ctx context.Context, seed uint64, n int) (string, error) {
	out, err := p.cmd(ctx, "bash", "run.sh", "--text", strconv.FormatUint(seed, 10), strconv.Itoa(n))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// checksum returns the peer's checksum of the W1 input.
func (p *peer) checksum(ctx context.Context, in *w1Input) (string, error) {
	out, err := p.cmd(ctx, "node", "peer_checksum.mjs", strconv.Itoa(in.T), strconv.Itoa(in.S),
		strconv.Itoa(in.P), strconv.Itoa(in.C), strconv.Itoa(len(in.picks)))
	return strings.TrimSpace(string(out)), err
}

// cmd runs a command in the harness folder; ending ctx kills it.
func (p *peer) cmd(ctx context.Context, name string, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = p.dir
	c.Stderr = p.stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("peer: %s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// peerReport is the harness's JSON line (the parts used here).
type peerReport struct {
	Versions map[string]string            `json:"versions"`
	Pragmas  map[string]map[string]any    `json:"pragmas"`
	FsyncRaw map[string]float64           `json:"fsync"`
	Figures  map[string]peerFigure        `json:"figures"`
	Runs     []map[string]json.RawMessage `json:"runs"`
	Host     map[string]any               `json:"host"`
}

type peerFigure struct {
	Unit string    `json:"unit"`
	Runs []float64 `json:"runs"`
}

// fig returns the median of a figure's runs, or NaN.
func (r *peerReport) fig(key string) float64 {
	f, ok := r.Figures[key]
	if !ok || len(f.Runs) == 0 {
		return nan
	}
	return median(f.Runs)
}

// run runs the harness with args plus --json and parses the last line of
// its output.
func (p *peer) run(ctx context.Context, args ...string) (*peerReport, error) {
	args = append([]string{"run.sh"}, append(args, "--json")...)
	out, err := p.cmd(ctx, "bash", args...)
	if err != nil {
		return nil, err
	}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	r := &peerReport{}
	if err := json.Unmarshal([]byte(last), r); err != nil {
		return nil, fmt.Errorf("peer: parse its JSON line: %w", err)
	}
	return r, nil
}

// peerW2 is the W2 detail of one durability mode.
type peerW2 struct {
	Steps   int                    `json:"steps"`
	Seconds float64                `json:"seconds"`
	Bytes   float64                `json:"bytes"`
	Points  []int                  `json:"points"`
	At      map[string]peerW2Point `json:"at"`
}

type peerW2Point struct {
	StepP50     float64 `json:"step_p50_us"`
	StepP99     float64 `json:"step_p99_us"`
	PutP50      float64 `json:"put_only_p50_us"`
	PutP99      float64 `json:"put_only_p99_us"`
	GetP50      float64 `json:"get_latest_p50_us"`
	FileBytes   float64 `json:"file_bytes"`
	PerStepPrev float64 `json:"bytes_per_step_since_prev_point"`
	BlobBytes   float64 `json:"latest_checkpoint_blob_bytes"`
}

// w2 returns the W2 detail of mode from the first run.
func (r *peerReport) w2(mode string) (*peerW2, error) {
	if len(r.Runs) == 0 {
		return nil, fmt.Errorf("peer: no W2 run in its report")
	}
	raw, ok := r.Runs[0][mode]
	if !ok {
		return nil, fmt.Errorf("peer: no W2 %s run in its report", mode)
	}
	w := &peerW2{}
	if err := json.Unmarshal(raw, w); err != nil {
		return nil, fmt.Errorf("peer: W2 detail: %w", err)
	}
	return w, nil
}

// point returns the W2 point of step n, if the peer measured one there.
func (w *peerW2) point(n int) (peerW2Point, bool) {
	p, ok := w.At[strconv.Itoa(n)]
	return p, ok
}
