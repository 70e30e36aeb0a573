package provider

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// FieldType is the shape of a provider-specific configuration value.
type FieldType int

const (
	// String is a single string value.
	String FieldType = iota
	// StringList is a list of strings, given as an array or a comma-separated string.
	StringList
	// StringMap is a map of strings, given as an object or key=value pairs.
	StringMap
)

// Field is one provider-specific configuration field of config/<name>.
type Field struct {
	Name        string
	Type        FieldType
	Description string
	// Default applies to String fields that are not set.
	Default string
	// Allowed, when not empty, is the closed set of values of a String field.
	Allowed []string
	// Check validates a set value; its error says what to fix.
	Check func(value any) error
}

// Validate checks a value already converted to the field's Go type
// (string, []string or map[string]string).
func (f Field) Validate(value any) error {
	if s, ok := value.(string); ok && len(f.Allowed) > 0 && !slices.Contains(f.Allowed, s) {
		return fmt.Errorf("%s must be one of %s, not %q", f.Name, strings.Join(f.Allowed, ", "), s)
	}
	if f.Check != nil {
		if err := f.Check(value); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

// Options holds provider-specific values by field name: a string, a
// []string or a map[string]string.
type Options map[string]any

// UnmarshalJSON restores the typed values that JSON storage turns into
// []any and map[string]any.
func (o *Options) UnmarshalJSON(data []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*o = make(Options, len(raw))
	for name, v := range raw {
		switch v := v.(type) {
		case []any:
			list := make([]string, 0, len(v))
			for _, item := range v {
				if s, ok := item.(string); ok {
					list = append(list, s)
				}
			}
			(*o)[name] = list
		case map[string]any:
			m := make(map[string]string, len(v))
			for k, item := range v {
				if s, ok := item.(string); ok {
					m[k] = s
				}
			}
			(*o)[name] = m
		default:
			(*o)[name] = v
		}
	}
	return nil
}

// String returns a string option, or "" when it is not set.
func (o Options) String(name string) string {
	s, _ := o[name].(string)
	return s
}

// List returns a list option, or nil when it is not set.
func (o Options) List(name string) []string {
	l, _ := o[name].([]string)
	return l
}

// Map returns a map option, or nil when it is not set.
func (o Options) Map(name string) map[string]string {
	m, _ := o[name].(map[string]string)
	return m
}
