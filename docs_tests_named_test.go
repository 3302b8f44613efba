package ckpt_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsNameTestsThatExist: every test function README.md and
// docs/*.md name (TestXxx) is a test of the repository (any module), and
// every test file they name (xxx_test.go) is one. Where the text says a
// test is skipped (", skipped" or " (skipped" right after its name) the
// test skips at its first line, and where a test skips at its first line
// and the text names it, the text says so: the docs cite tests as the
// proof of a behaviour, so a test renamed, removed, skipped or un-skipped
// must not leave them promising what no test shows (docs/durability.md
// called TestH190WriteBesideADamagedPageIDKeepsTheFileReadable skipped
// after h223 had made it run).
func TestDocsNameTestsThatExist(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{} // test name -> skips at its first line
	files := map[string]bool{} // test file base names
	decl := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(t \*testing\.T\) \{\n(?:\s*//[^\n]*\n)*\s*(t\.Skip\()?`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files[d.Name()] = true
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			tests[string(m[1])] = len(m[2]) > 0
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) < 100 || !tests["TestDeleteThreadOverAPageAnotherBucketNames"] {
		t.Fatalf("found %d tests, TestDeleteThreadOverAPageAnotherBucketNames skipped %v: the scan is broken", len(tests), tests["TestDeleteThreadOverAPageAnotherBucketNames"])
	}
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("\\bTest[A-Z][A-Za-z0-9_]*")
	fileNamed := regexp.MustCompile("\\b[a-z0-9_]+_test\\.go\\b")
	saysSkipped := regexp.MustCompile("^`?\\)?(,| \\()\\s*skipped")
	mentioned := 0
	for _, doc := range append([]string{"README.md"}, docs...) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		line := func(at int) int { return 1 + strings.Count(text[:at], "\n") }
		for _, m := range named.FindAllStringIndex(text, -1) {
			name := text[m[0]:m[1]]
			skips, ok := tests[name]
			if !ok {
				t.Errorf("%s:%d names %s: no such test in the repository", doc, line(m[0]), name)
				continue
			}
			mentioned++
			said := saysSkipped.MatchString(text[m[1]:min(len(text), m[1]+40)])
			switch {
			case said && !skips:
				t.Errorf("%s:%d says %s is skipped: it runs", doc, line(m[0]), name)
			case skips && !said:
				t.Errorf("%s:%d names %s without saying it is skipped (\", skipped\" after the name): it skips at its first line", doc, line(m[0]), name)
			}
		}
		for _, m := range fileNamed.FindAllStringIndex(text, -1) {
			if name := text[m[0]:m[1]]; !files[name] {
				t.Errorf("%s:%d names %s: no such test file in the repository", doc, line(m[0]), name)
			}
		}
	}
	if mentioned == 0 {
		t.Fatal("the docs name no test: the scan is broken")
	}
}
