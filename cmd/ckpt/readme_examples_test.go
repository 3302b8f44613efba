package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goExample is what a ```go block of the README or docs/ leaves out: the
// imports it uses and the variables it takes as given (ctx, store, ...).
// key is a piece of text only that block has.
type goExample struct {
	key     string
	imports []string
	params  string
	decls   string
}

var goExamples = []goExample{
	{key: `ckpt.Open("agent.db", ckpt.Options{})`, // README's quick start
		imports: []string{"context", "log", "github.com/ckpt-go/ckpt"},
		params:  "ctx context.Context",
		decls:   "type Message struct{ Role, Content string }"},
	{key: "web.Handler(",
		imports: []string{"net/http", "github.com/ckpt-go/ckpt", "github.com/ckpt-go/ckpt/web"},
		params:  "store *ckpt.Store, mux *http.ServeMux"},
	{key: "store.GC(",
		imports: []string{"context", "time", "github.com/ckpt-go/ckpt"},
		params:  "ctx context.Context, store *ckpt.Store"},
	{key: "einockpt.New(",
		imports: []string{"context", "github.com/ckpt-go/ckpt", `einockpt "github.com/ckpt-go/ckpt/integrations/eino"`, "github.com/cloudwego/eino/compose"},
		params:  "ctx context.Context, store *ckpt.Store, g *compose.Graph[string, string], approve compose.StateModifier"},
	{key: "redisstore.New(",
		imports: []string{"context", "log", "github.com/ckpt-go/ckpt", "github.com/ckpt-go/ckpt/redisstore"},
		params:  "ctx context.Context, parent ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string"},
	{key: "store.BackupFile(", // docs/backup.md
		imports: []string{"context", "github.com/ckpt-go/ckpt"},
		params:  "ctx context.Context, store *ckpt.Store"},
	{key: "ckpt.ErrDiskFull", // docs/durability.md
		imports: []string{"context", "errors", "github.com/ckpt-go/ckpt"},
		params:  "ctx context.Context, store *ckpt.Store, state map[string]any, meta ckpt.Metadata"},
	{key: "ckpt.Encryption{", // docs/encryption.md
		imports: []string{"github.com/ckpt-go/ckpt"},
		params:  "newKey, oldKey [32]byte"},
	{key: "SlowFsync:", // docs/observability.md
		imports: []string{"fmt", "log/slog", "os", "time", "github.com/ckpt-go/ckpt"},
		params:  "path string"},
	{key: "ckptotel.", // docs/observability.md
		imports: []string{"github.com/ckpt-go/ckpt", `ckptotel "github.com/ckpt-go/ckpt/integrations/otel"`,
			"go.opentelemetry.io/otel/metric", "go.opentelemetry.io/otel/trace"},
		params: "store *ckpt.Store, meterProvider metric.MeterProvider, tracerProvider trace.TracerProvider"},
}

// goBlocks returns the ```go blocks of a Markdown file.
func goBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur = new(strings.Builder)
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestReadmeGoExamplesCompile: every ```go block of the README and of
// docs/ compiles against the code of this clone (the store, web,
// redisstore, the eino and OpenTelemetry integrations), each as the body
// of a function given the variables it takes as given. A fragment may
// leave a variable it declares unused (the reader's program goes on), so
// that error alone is let through.
func TestReadmeGoExamplesCompile(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "README.md")); err != nil {
		t.Skipf("no README beside the module: %v", err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	dir := t.TempDir()
	files := map[string]string{} // generated file -> the block's source, for the messages
	for _, md := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		rel, _ := filepath.Rel(root, md)
		for i, block := range goBlocks(t, md) {
			var ex *goExample
			for j := range goExamples {
				if strings.Contains(block, goExamples[j].key) {
					if ex != nil {
						t.Fatalf("%s's go block %d matches two preludes (%q, %q): make the keys tell them apart", rel, i+1, ex.key, goExamples[j].key)
					}
					ex = &goExamples[j]
				}
			}
			if ex == nil {
				t.Errorf("%s's go block %d has no prelude in goExamples (its imports and the variables it takes as given): add one\n%s", rel, i+1, block)
				continue
			}
			name := fmt.Sprintf("%s_%d.go", strings.NewReplacer("/", "_", ".md", "", "-", "_").Replace(rel), i+1)
			var src strings.Builder
			src.WriteString("package main\n\nimport (\n")
			for _, imp := range ex.imports {
				if !strings.Contains(imp, `"`) {
					imp = `"` + imp + `"`
				}
				src.WriteString("\t" + imp + "\n")
			}
			fmt.Fprintf(&src, ")\n\n%s\n\nfunc example%d(%s) {\n%s}\n", ex.decls, len(files), ex.params, block)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			files[name] = rel + fmt.Sprintf(" go block %d", i+1)
		}
	}
	if len(files) == 0 {
		t.Fatal("no go blocks found in the README")
	}
	main := "package main\n\nfunc main() {}\n"
	mod := "module readmeexamples\n\ngo 1.26.8\n"
	work := "go 1.26.8\n\nuse (\n\t.\n"
	for _, m := range []string{".", "redisstore", "integrations/eino", "integrations/otel"} {
		work += "\t" + filepath.Join(root, m) + "\n"
	}
	work += ")\n"
	for name, text := range map[string]string{"main.go": main, "go.mod": mod, "go.work": work} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-gcflags=-e", "-o", os.DevNull, ".")
	cmd.Dir = dir
	// The workspace of this clone's modules; GOFLAGS such as -mod=mod
	// are refused in workspace mode.
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(dir, "go.work"), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	// The integrations' modules (eino, OpenTelemetry, go-redis) are not
	// cmd/ckpt's: a machine that fetched only what cmd/ckpt needs and is
	// offline (or behind a proxy that refuses) cannot build the examples
	// at all, which says nothing of them: skipped, as a missing tool is.
	if err != nil && moduleFetchFailed(string(out)) {
		if os.Getenv("CKPT_REQUIRE_DOCS_BUILD") != "" {
			t.Fatalf("CKPT_REQUIRE_DOCS_BUILD is set, but the modules the docs' go examples use cannot be fetched:\n%s", out)
		}
		t.Skipf("the modules the docs' go examples use cannot be fetched (offline?; set CKPT_REQUIRE_DOCS_BUILD=1 to fail instead):\n%s", out)
	}
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "# ") || strings.Contains(line, "declared and not used") {
			continue
		}
		for name, from := range files {
			line = strings.Replace(line, "./"+name, from+" ("+name+")", 1)
		}
		bad = append(bad, line)
	}
	if len(bad) > 0 || err != nil && len(bad) == 0 && !strings.Contains(string(out), "declared and not used") {
		t.Fatalf("the docs' go examples do not compile (%v):\n%s", err, strings.Join(bad, "\n"))
	}
}

// moduleFetchFailed tells whether go build's output says a module could
// not be downloaded (GOPROXY=off, no network, a proxy refusing), before
// anything was compiled.
func moduleFetchFailed(out string) bool {
	for _, s := range []string{
		"module lookup disabled",   // GOPROXY=off
		"reading https://",         // the proxy answered with an error
		"dial tcp", "no such host", // no network
		"proxyconnect", "i/o timeout", // a proxy in between
		"cannot find module providing package",
	} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}
