//go:build ignore

// jsonget prints one value of a JSON document, so the shell scripts need
// neither jq nor python on a machine that has only Go.
//
//	go run scripts/jsonget.go FILE PATH
//
// PATH is dot-separated object keys, e.g. clients.dupr.id; an empty PATH is
// the whole document. A string prints as is, an object prints its keys one
// per line (sorted), anything else prints as JSON. A missing key fails.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fail("usage: jsonget FILE PATH")
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err.Error())
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		fail(fmt.Sprintf("%s is not JSON: %v", os.Args[1], err))
	}
	if path := os.Args[2]; path != "" {
		for _, key := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				fail(fmt.Sprintf("%s: %q is not inside an object", path, key))
			}
			if v, ok = obj[key]; !ok {
				fail(fmt.Sprintf("%s: no key %q", path, key))
			}
		}
	}
	switch v := v.(type) {
	case string:
		fmt.Println(v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Println(k)
		}
	default:
		out, _ := json.Marshal(v)
		fmt.Println(string(out))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "jsonget:", msg)
	os.Exit(1)
}
