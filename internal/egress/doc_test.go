package egress

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEgressImportsNothingElse holds the package to its word: what decides
// where the engine may connect depends on the standard library, the
// logger and the IDNA lookup only, never on the rest of the engine.
func TestEgressImportsNothingElse(t *testing.T) {
	allowed := map[string]bool{"github.com/hashicorp/go-hclog": true, "golang.org/x/net/idna": true}
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources: %v", err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			standard := !strings.Contains(strings.Split(path, "/")[0], ".")
			if !standard && !allowed[path] {
				t.Errorf("%s imports %s", file, path)
			}
		}
	}
}
