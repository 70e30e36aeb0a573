package backend

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// measuredFigure matches what a measurement reports: a ratio (1.9x), a
// size (6.6 KB, 683 MiB) or a count with thousands separators (105,567).
var measuredFigure = regexp.MustCompile(`\b\d+(?:\.\d+)?x\b|\b\d[\d,]*(?:\.\d+)? (?:KB|KiB|MB|MiB)\b|\b\d{1,3}(?:,\d{3})+\b`)

// TestDocsQuoteBenchmarksFromBenchmarksMD fails when a measured figure in
// the README's section on reading at high rates or in
// docs/reading-at-high-rates.md is not in BENCHMARKS.md, the one place
// measurements are kept: quoted elsewhere, they drift apart.
func TestDocsQuoteBenchmarksFromBenchmarksMD(t *testing.T) {
	benchmarks := readDoc(t, filepath.Join("..", "BENCHMARKS.md"))
	readme := readDoc(t, filepath.Join("..", "README.md"))
	_, section, found := strings.Cut(readme, "\n## Reading at high rates\n")
	if !found {
		t.Fatal("README.md has no section \"## Reading at high rates\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for doc, text := range map[string]string{
		"README.md (Reading at high rates)": section,
		"docs/reading-at-high-rates.md":     readDoc(t, filepath.Join("..", "docs", "reading-at-high-rates.md")),
	} {
		figures := measuredFigure.FindAllString(text, -1)
		if len(figures) == 0 {
			t.Errorf("%s quotes no measured figure: is the pattern still right?", doc)
		}
		for _, figure := range figures {
			if !strings.Contains(benchmarks, figure) {
				t.Errorf("%s quotes %q, which BENCHMARKS.md does not have", doc, figure)
			}
		}
	}
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
