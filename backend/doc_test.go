package backend

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCommentsLinkToTheStory checks that every docs/how-it-works.md#anchor
// a comment of the engine links to is a heading of that page, so a comment
// that states a rule always leads to the story behind it.
func TestCommentsLinkToTheStory(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "docs", "how-it-works.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for line := range strings.SplitSeq(string(page), "\n") {
		if heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[headingAnchor(heading)] = true
		}
	}
	link := regexp.MustCompile(`how-it-works\.md#([a-z0-9_-]+)`)
	var sources []string
	for _, dir := range []string{".", filepath.Join("..", "internal", "provider")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no sources in %s: %v", dir, err)
		}
		sources = append(sources, files...)
	}
	links := 0
	for _, file := range sources {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(src), -1) {
			links++
			if !anchors[m[1]] {
				t.Errorf("%s links to docs/how-it-works.md#%s, which is no heading there", file, m[1])
			}
		}
	}
	if links == 0 {
		t.Fatal("no comment links to docs/how-it-works.md: the check checks nothing")
	}
}

// headingAnchor is the anchor GitHub gives a Markdown heading: lower case,
// punctuation dropped, spaces as hyphens.
func headingAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// maxFileLines is how long a file of this package may grow: a file that
// holds more than one job shows it first by its length.
const maxFileLines = 300

// TestFilesStaySmall fails on a file of the package, test files included,
// over maxFileLines: split it by what its parts do.
func TestFilesStaySmall(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(data), "\n"); n > maxFileLines {
			t.Errorf("%s has %d lines, over %d: split it by what its parts do", f, n, maxFileLines)
		}
	}
}
