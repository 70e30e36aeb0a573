package backend

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var operationsDoc = filepath.Join("..", "docs", "operations.md")

// The plugin's own code: what runs inside Vault and writes its log.
var pluginSources = []string{filepath.Join("..", "backend", "*.go"), filepath.Join("..", "internal", "provider", "*.go"), filepath.Join("..", "internal", "egress", "*.go"), filepath.Join("..", "main.go")}

// logLine is one message the plugin can write, at its level.
type logLine struct{ level, message string }

// TestDocsListEveryLogLine fails when the plugin can write a log line that
// the table of docs/operations.md ("Log lines") does not list with its
// level, or the table lists one the plugin no longer writes. A message
// must be a constant string, so that operators can search for it; what
// varies goes into the line's fields.
func TestDocsListEveryLogLine(t *testing.T) {
	written := map[logLine]string{} // -> where
	fset := token.NewFileSet()
	for _, pattern := range pluginSources {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("no sources at %s: %v", pattern, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(fset, file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(parsed, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				level, ok := logLevel(call)
				if !ok {
					return true
				}
				where := fset.Position(call.Pos()).String()
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: the %s line's message is not a constant string; put what varies in its fields", where, level)
					return true
				}
				message, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				written[logLine{level, message}] = where
				return true
			})
		}
	}
	if len(written) == 0 {
		t.Fatal("found no log calls: has the logger's name changed?")
	}

	listed := documentedLogLines(t)
	for line, where := range written {
		if !listed[line] {
			t.Errorf("%s writes the %s line %q, which the log table of %s does not list", where, line.level, line.message, operationsDoc)
		}
	}
	for line := range listed {
		if _, ok := written[line]; !ok {
			t.Errorf("%s lists the %s line %q, which the plugin does not write", operationsDoc, line.level, line.message)
		}
	}
}

// logLevel is the level of a call on a logger (logger.Warn(...),
// c.logger.Info(...), b.Logger().Debug(...)); ok is false for any other call.
func logLevel(call *ast.CallExpr) (level string, ok bool) {
	sel, isSel := call.Fun.(*ast.SelectorExpr)
	if !isSel || len(call.Args) == 0 {
		return "", false
	}
	switch sel.Sel.Name {
	case "Trace", "Debug", "Info", "Warn", "Error":
	default:
		return "", false
	}
	receiver := sel.X
	if inner, isCall := receiver.(*ast.CallExpr); isCall {
		receiver = inner.Fun // b.Logger(), m.logger()
	}
	var name string
	switch r := receiver.(type) {
	case *ast.Ident:
		name = r.Name
	case *ast.SelectorExpr:
		name = r.Sel.Name
	}
	if !strings.EqualFold(name, "logger") {
		return "", false
	}
	return strings.ToLower(sel.Sel.Name), true
}

var logRow = regexp.MustCompile("^\\| (trace|debug|info|warn|error) \\| `([^`]+)` \\|")

// documentedLogLines are the rows of the log table in docs/operations.md.
func documentedLogLines(t *testing.T) map[logLine]bool {
	t.Helper()
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[logLine]bool{}
	for _, row := range strings.Split(string(doc), "\n") {
		if m := logRow.FindStringSubmatch(row); m != nil {
			lines[logLine{m[1], m[2]}] = true
		}
	}
	if len(lines) == 0 {
		t.Fatalf("%s has no log table rows (| level | `message` | fields |)", operationsDoc)
	}
	return lines
}
