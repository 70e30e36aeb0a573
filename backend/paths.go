package backend

import (
	"regexp"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// What every path file shares: the OpenAPI operation prefix, the config
// name segment and its check, and the answers to common mistakes.

const operationPrefix = "partnertoken"

// canonicalName is the one accepted spelling of a config name: the path
// pattern (framework.GenericNameRegex) in lower case. Vault checks ACL
// paths case-sensitively before the plugin sees the request, so a name
// the engine folded to lower case would let token/PROD past a policy that
// denies token/prod; such a request is refused instead.
var canonicalName = regexp.MustCompile(`^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$`)

const nameRule = "a config name may contain only lower-case letters a-z, digits, '_', '-' and '.', and must start and end with a letter, digit or '_'"

// nameField is the name segment of a path that takes a config name.
func nameField(description string) *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: description + " " + capitalize(nameRule) + ".",
		Required:    true,
	}
}

// capitalize upper-cases the first letter of s, whatever its encoding.
func capitalize(s string) string {
	first, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(first)) + s[size:]
}

// configName is the request's config name, or the 400 answer for a name
// that is not canonical; nothing has been read or written then.
func configName(d *framework.FieldData) (string, *logical.Response) {
	name := d.Get("name").(string)
	if !canonicalName.MatchString(name) {
		return "", logical.ErrorResponse("invalid config name %q: %s", name, nameRule)
	}
	return name, nil
}

// unknownFields lists request fields the path does not declare. Vault only
// warns about them; a config write refuses them, since a misspelled field
// would otherwise silently keep its old value.
func unknownFields(data map[string]any, schema map[string]*framework.FieldSchema) []string {
	var unknown []string
	for k := range data {
		if _, ok := schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown
}
