package e2e

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Every fenced block of README.md and docs/*.md carries, on the line right
// before its opening fence, a marker that says how it is kept true:
//
//	<!-- run: ID -->     a test of this suite runs the block as written,
//	                     writes it into the config file it starts a server,
//	                     Agent or Proxy with, or finds it in the files it
//	                     applies (examples/terraform); the test names ID
//	<!-- answer: ID -->  the JSON answer of the request block ID, compared
//	                     with tests/testdata/paths/ID.json (paths_test.go)
//	<!-- excerpt -->     not run as written: output, a part of a bigger file,
//	                     a command of this repository's own development loop;
//	                     "<!-- excerpt: why -->" says why where it is not plain
//
// A marker is an HTML comment, so it does not show where the page is
// rendered. TestDocBlocksAreRunOrExcerpts fails on a block without one and
// on a run or answer ID that no test names; docBlock fails a test whose ID
// is missing from its page. So neither side can drift from the other.

// docFiles are the documents whose blocks are kept true, relative to the
// repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "README.md"))
	for i, f := range files {
		files[i] = strings.TrimPrefix(filepath.ToSlash(f), "../")
	}
	return files
}

// fencedBlock is one fenced block of a document.
type fencedBlock struct {
	line   int    // of the opening fence, from 1
	info   string // the fence's info string: sh, hcl, json…
	marker string // the comment on the line before the fence, "" if none
	kind   string // run, answer or excerpt, from the marker
	id     string // the marker's ID (run, answer)
	text   string // the block's lines, without the fence's indentation
}

var (
	openingFence = regexp.MustCompile("^( *)```(.*)$")
	blockMarker  = regexp.MustCompile(`^<!-- (?:(run|answer): ([a-z0-9][a-z0-9-]*)|(excerpt)(?:: [^>]+)?) -->$`)
)

// fencedBlocks parses the fenced blocks of the document at path (relative
// to the repository root).
func fencedBlocks(t *testing.T, path string) []fencedBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []fencedBlock
	for i := 0; i < len(lines); i++ {
		m := openingFence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent := m[1]
		b := fencedBlock{line: i + 1, info: strings.TrimSpace(m[2])}
		if i > 0 {
			b.marker = strings.TrimSpace(lines[i-1])
			if mm := blockMarker.FindStringSubmatch(b.marker); mm != nil {
				b.kind, b.id = mm[1]+mm[3], mm[2]
			}
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: the block is never closed", path, b.line)
		}
		b.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks
}

// docBlock is the block marked "<!-- kind: id -->" in the document at path
// (relative to the repository root), with replace applied: it maps text of
// the block (example hosts, paths, versions) to this test's. Each must
// occur, so that a changed document fails here rather than passing untested.
func docBlock(t *testing.T, path, kind, id string, replace map[string]string) string {
	t.Helper()
	var found []fencedBlock
	for _, b := range fencedBlocks(t, path) {
		if b.kind == kind && b.id == id {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d blocks marked <!-- %s: %s -->, want one", path, len(found), kind, id)
	}
	text := found[0].text
	// Longer strings first, so one that contains another is replaced whole.
	olds := slices.Collect(maps.Keys(replace))
	slices.SortFunc(olds, func(a, b string) int { return len(b) - len(a) })
	for _, old := range olds {
		if !strings.Contains(text, old) {
			t.Fatalf("the block %s in %s no longer contains %q, which this test replaces:\n%s", id, path, old, text)
		}
		text = strings.ReplaceAll(text, old, replace[old])
	}
	return text
}

// docShell runs blocks as a reader pastes them into a terminal: with bash
// (-euo pipefail), with the server's CLI on PATH as vault (and as bao on
// OpenBao), pointed at a server by VAULT_ADDR and VAULT_TOKEN (which bao
// reads when no BAO_* variable is set).
type docShell struct {
	addr, token string
	caCert      string   // VAULT_CACERT, for a server that speaks TLS
	dir         string   // the working directory
	env         []string // more variables, such as those an earlier block of the page set
	stdin       string   // what the reader types or pastes
}

// run runs block and returns its output; a failure fails the test.
func (s docShell) run(t *testing.T, ctx context.Context, what, block string) string {
	t.Helper()
	out, err := s.exec(t, ctx, block)
	if err != nil {
		t.Fatalf("%s failed: %v\n%s\n%s", what, err, block, out)
	}
	t.Logf("%s:\n%s\n%s", what, block, out)
	return out
}

// exec runs block and returns its output and exit status.
func (s docShell) exec(t *testing.T, ctx context.Context, block string) (string, error) {
	t.Helper()
	cli, err := os.MkdirTemp(env.workDir, "cli-")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"vault"}
	if env.server == openbaoKind {
		names = append(names, "bao")
	}
	for _, name := range names {
		if err := os.Symlink(env.serverBin, filepath.Join(cli, name)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = s.dir
	vars := []string{"VAULT_ADDR=" + s.addr, "VAULT_TOKEN=" + s.token}
	if s.caCert != "" {
		vars = append(vars, "VAULT_CACERT="+s.caCert)
	}
	home, err := os.MkdirTemp(env.workDir, "home-")
	if err != nil {
		t.Fatal(err)
	}
	// The reader's own Go caches: the fresh HOME would mean a fresh module
	// cache, and a make build that downloads every module again.
	caches, err := goCaches()
	if err != nil {
		t.Fatal(err)
	}
	vars = append(vars, caches...)
	cmd.Env = withoutMakeVars(childEnv(home, append(vars, s.env...)...))
	for i, kv := range cmd.Env {
		if strings.HasPrefix(kv, "PATH=") {
			cmd.Env[i] = "PATH=" + cli + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	cmd.Stdin = strings.NewReader(s.stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// goCaches are GOPATH, GOMODCACHE and GOCACHE as the tests' go sees them.
var goCaches = sync.OnceValues(func() ([]string, error) {
	out, err := exec.Command("go", "env", "GOPATH", "GOMODCACHE", "GOCACHE").Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	values := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(values) != 3 {
		return nil, fmt.Errorf("go env printed %q", out)
	}
	return []string{"GOPATH=" + values[0], "GOMODCACHE=" + values[1], "GOCACHE=" + values[2]}, nil
})

// runDocBlock runs the block marked "<!-- run: id -->" in the document at
// path (relative to the repository root), with replace applied (docBlock),
// in dir, against v with its root token.
func runDocBlock(t *testing.T, ctx context.Context, v *vaultServer, path, id, dir string, replace map[string]string) string {
	t.Helper()
	sh := docShell{addr: v.Addr, token: rootToken, dir: dir}
	return sh.run(t, ctx, fmt.Sprintf("the block %s of %s", id, path), docBlock(t, path, "run", id, replace))
}

// TestDocBlocksAreRunOrExcerpts fails when a fenced block of the docs has
// no marker, or a run or answer marker whose ID no test of this suite
// names: then nothing keeps the block true.
func TestDocBlocksAreRunOrExcerpts(t *testing.T) {
	named := testStrings(t)
	seen := map[string]string{} // kind and ID -> where
	kinds := map[string]int{}
	for _, path := range docFiles(t) {
		for _, b := range fencedBlocks(t, path) {
			where := fmt.Sprintf("%s:%d", path, b.line)
			switch {
			case b.kind == "":
				t.Errorf("%s: the ```%s block has no marker on the line before it; a test must run it (<!-- run: ID -->) or it says it is an excerpt (<!-- excerpt -->), see tests/docs_test.go. The line before it: %q",
					where, b.info, b.marker)
				continue
			case b.kind == "excerpt":
				continue
			}
			kinds[b.kind]++
			key := b.kind + ": " + b.id
			if other, dup := seen[key]; dup {
				t.Errorf("%s: <!-- %s --> is also at %s; IDs are unique across the docs", where, key, other)
			}
			seen[key] = where
			if !named[b.id] {
				t.Errorf("%s: no test names the block's ID %q (<!-- %s -->): nothing runs it", where, b.id, key)
			}
		}
	}
	for _, kind := range []string{"run", "answer"} {
		if kinds[kind] == 0 {
			t.Errorf("no block of the docs is marked <!-- %s: ID -->: has the convention changed without this test?", kind)
		}
	}
}

// testStrings are the string literals of this suite's test files other
// than this one (which names no block), where the tests name the blocks
// they run.
func testStrings(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	strs := map[string]bool{}
	fset := token.NewFileSet()
	for _, file := range files {
		if file == "docs_test.go" {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					strs[s] = true
				}
			}
			return true
		})
	}
	return strs
}
