package ckpt_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDocsLinksResolve: every relative link in README.md and docs/*.md
// ([text](path), [text](path#anchor), [text](#anchor), images too) names
// a file or directory that exists, and its anchor a heading of that
// Markdown file, by GitHub's rules. A chapter moved out of README.md, or a
// heading renamed, leaves no link pointing at nothing.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{"README.md"}, docs...)
	anchors := map[string]map[string]bool{} // Markdown file -> its anchors
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := markdownAnchors(string(b))
		anchors[path] = a
		return a, nil
	}
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(b)) {
			checked++
			target, anchor, _ := strings.Cut(l.dest, "#")
			path := file
			if target != "" {
				path = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link %q: no file %s", file, l.line, l.dest, path)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(path, ".md") {
				t.Errorf("%s:%d: link %q: an anchor into a file that is not Markdown", file, l.line, l.dest)
				continue
			}
			a, err := anchorsOf(path)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", file, l.line, l.dest, err)
				continue
			}
			if !a[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", file, l.line, l.dest, path, anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no link found in README.md: the parser is broken")
	}
}

type markdownLink struct {
	dest string
	line int
}

var (
	linkRE    = regexp.MustCompile(`\]\(([^()\s]+)\)`)
	codeRE    = regexp.MustCompile("`[^`]*`")
	headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// markdownLinks returns the relative links of a Markdown text, outside
// fenced code blocks and code spans; absolute URLs are left out.
func markdownLinks(text string) []markdownLink {
	var links []markdownLink
	fenced := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		line = codeRE.ReplaceAllString(line, "")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			d := m[1]
			if strings.Contains(d, "://") || strings.HasPrefix(d, "mailto:") {
				continue
			}
			links = append(links, markdownLink{dest: d, line: i + 1})
		}
	}
	return links
}

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown text: lower case, spaces to '-', every other character but
// letters, digits, '-' and '_' dropped; a repeated one gets -1, -2, ...
func markdownAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		m := headingRE.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		a := githubAnchor(m[1])
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestGitHubAnchor holds githubAnchor to anchors GitHub gives.
func TestGitHubAnchor(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"Quick start": "quick-start",
		"Walk-through: crash, resume, look inside":                 "walk-through-crash-resume-look-inside",
		"The file itself: swaps, damage, `Verify` on a live store": "the-file-itself-swaps-damage-verify-on-a-live-store",
		"cloudwego/eino": "cloudwegoeino",
		"Several workers: the same Saver on Redis": "several-workers-the-same-saver-on-redis",
		"Runs 31 and 32":     "runs-31-and-32",
		"`snake_case` names": "snake_case-names",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}
