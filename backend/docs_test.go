package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The documents that must describe the engine's schema, as the engine
// itself publishes it: its OpenAPI document (Vault's help operation), so
// the check holds whatever file or function declares a path.
var (
	configurationDoc = filepath.Join("..", "docs", "configuration.md")
	pathsDoc         = filepath.Join("..", "docs", "paths.md")
)

// The paths whose request fields docs/configuration.md documents, each in
// a table row of its own.
var configuredPaths = []string{"/config/{name}", "/settings"}

// TestDocsCoverEveryField fails when a field of config/<name> or settings
// has no row in docs/configuration.md, a row names a field the engine does
// not have, or a row's default or allowed values disagree with the schema.
func TestDocsCoverEveryField(t *testing.T) {
	doc := openAPIDocument(t)
	rows := tableRows(t, configurationDoc)

	fields := map[string]map[string]any{}
	for _, path := range configuredPaths {
		props := doc.requestFields(t, path, "post")
		if len(props) == 0 {
			t.Fatalf("the engine declares no request fields for %s: has the path moved?", path)
		}
		for name, prop := range props {
			fields[name] = prop
		}
	}
	for name, prop := range fields {
		row, ok := rows[name]
		if !ok {
			t.Errorf("%s has no table row for the field %q (| `%s` | type | default | range | meaning |)", configurationDoc, name, name)
			continue
		}
		if def, ok := prop["default"]; ok {
			if want := documentedDefault(def, prop["format"]); !strings.Contains(row.cells[2], want) {
				t.Errorf("%s: the default of %q is %s in the engine, the row says %q", configurationDoc, name, want, row.cells[2])
			}
		}
		if values, ok := prop["enum"].([]any); ok {
			for _, v := range values {
				if !strings.Contains(row.text, fmt.Sprintf("`%v`", v)) {
					t.Errorf("%s: the row of %q does not name its allowed value `%v`", configurationDoc, name, v)
				}
			}
		}
	}
	for name := range rows {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s documents a field %q that neither config/<name> nor settings has", configurationDoc, name)
		}
	}
}

// TestDocsCoverEveryPath fails when a path of the engine has no section
// in docs/paths.md, a section lacks one of the path's operations, query or
// body fields (other than those docs/configuration.md documents) or
// declared response fields, or a section names a path the engine does not
// have.
func TestDocsCoverEveryPath(t *testing.T) {
	doc := openAPIDocument(t)
	sections := docSections(t, pathsDoc)

	for oasPath, item := range doc.Paths {
		heading := "`" + strings.ReplaceAll(strings.TrimPrefix(oasPath, "/"), "{name}", "<name>") + "`"
		section, ok := sections[heading]
		if !ok {
			t.Errorf("%s has no section \"## %s\" for the engine's path %s", pathsDoc, heading, oasPath)
			continue
		}
		for method, op := range item {
			opMap, isOp := op.(map[string]any)
			if !isOp || !slices.Contains([]string{"get", "post", "delete"}, method) {
				continue
			}
			verb := operationWord(method, opMap)
			if !strings.Contains(section, "`"+verb+"`") {
				t.Errorf("%s: the section %s does not name its operation `%s`", pathsDoc, heading, verb)
			}
			for _, field := range doc.operationFields(t, oasPath, method) {
				if field == "list" || (slices.Contains(configuredPaths, oasPath) && method == "post") {
					continue // documented in docs/configuration.md
				}
				if !strings.Contains(section, "`"+field+"`") {
					t.Errorf("%s: the section %s does not name the field `%s` of %s", pathsDoc, heading, field, strings.ToUpper(method))
				}
			}
			for _, field := range doc.responseFields(t, opMap) {
				if !strings.Contains(section, "`"+field+"`") {
					t.Errorf("%s: the section %s does not name the response field `%s`", pathsDoc, heading, field)
				}
			}
		}
	}
	for heading := range sections {
		path := "/" + strings.ReplaceAll(strings.Trim(heading, "`"), "<name>", "{name}")
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("%s has a section %s for a path the engine does not have", pathsDoc, heading)
		}
	}
}

// operationWord is how docs/paths.md names an operation, as Vault's CLI
// does: a GET with the list parameter is a list.
func operationWord(method string, op map[string]any) string {
	switch method {
	case "post":
		return "update"
	case "delete":
		return "delete"
	}
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		if param, ok := p.(map[string]any); ok && param["name"] == "list" && param["in"] == "query" {
			return "list"
		}
	}
	return "read"
}

// documentedDefault is a schema default as the docs write it: durations
// (the framework's TypeDurationSecond, in seconds) as 30s or 5m.
func documentedDefault(def, format any) string {
	if format == "duration" {
		if secs, ok := def.(float64); ok {
			if int(secs)%60 == 0 && secs >= 60 {
				return fmt.Sprintf("%dm", int(secs)/60)
			}
			return fmt.Sprintf("%ds", int(secs))
		}
	}
	return fmt.Sprint(def)
}

type tableRow struct {
	text  string
	cells []string
}

var fieldRow = regexp.MustCompile("^\\| `([a-z_]+)` \\|")

// tableRows are the table rows of the document at path that start with a
// field name in backticks, by that name.
func tableRows(t *testing.T, path string) map[string]tableRow {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]tableRow{}
	for _, line := range strings.Split(string(doc), "\n") {
		m := fieldRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("%s has two rows for %q", path, m[1])
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		for len(cells) < 5 {
			cells = append(cells, "")
		}
		rows[m[1]] = tableRow{text: line, cells: cells}
	}
	return rows
}

// docSections maps each "## `path`" heading of the document at path to
// the text up to the next "## " heading.
func docSections(t *testing.T, path string) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	current := ""
	for _, line := range strings.Split(string(doc), "\n") {
		if heading, ok := strings.CutPrefix(line, "## "); ok {
			current = ""
			if strings.HasPrefix(heading, "`") {
				current = heading
				sections[current] = ""
			}
			continue
		}
		if current != "" {
			sections[current] += line + "\n"
		}
	}
	return sections
}
