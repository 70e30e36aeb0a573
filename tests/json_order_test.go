package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// jsonObject is a decoded JSON object that keeps its keys in the order the
// server wrote them, so that a sample answer reads as the server sends it.
// Its values, like those of arrays, are *jsonObject, []any, string,
// json.Number, bool or nil.
type jsonObject struct {
	keys   []string
	values map[string]any
}

// decodeOrdered decodes one JSON value, objects as *jsonObject and numbers
// as json.Number (as written).
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value in %.100q", data)
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := &jsonObject{values: map[string]any{}}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key := keyTok.(string)
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			obj.keys = append(obj.keys, key)
			obj.values[key] = v
		}
		_, err := dec.Token() // }
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ]
		return arr, err
	}
	return tok, nil
}

// encodeIndented writes v with two-space indentation, keys in their order
// and without escaping <, > and & (as a reader would type them).
func encodeIndented(v any) string {
	var b strings.Builder
	writeIndented(&b, v, "")
	b.WriteString("\n")
	return b.String()
}

func writeIndented(b *strings.Builder, v any, indent string) {
	switch v := v.(type) {
	case *jsonObject:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, k := range v.keys {
			b.WriteString(indent + "  " + quoteJSON(k) + ": ")
			writeIndented(b, v.values[k], indent+"  ")
			if i < len(v.keys)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range v {
			b.WriteString(indent + "  ")
			writeIndented(b, e, indent+"  ")
			if i < len(v)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString(indent + "]")
	case string:
		b.WriteString(quoteJSON(v))
	case json.Number:
		b.WriteString(v.String())
	case bool:
		fmt.Fprint(b, v)
	case nil:
		b.WriteString("null")
	default:
		panic(fmt.Sprintf("encodeIndented: unexpected %T", v))
	}
}

func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}
