package provider

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// minRedactLength is the shortest secret searched for: shorter, it would
	// mangle ordinary text, and such a secret is refused at configuration
	// time anyway.
	minRedactLength = 4
	// leakWindow is how many consecutive characters of a secret make a
	// message unsafe to show: a partner's echo cut at the message limit,
	// or mangled in a way no form below foresaw, still gives this much away.
	leakWindow = 8
	// encodedLeakWindow is the same for base64 encodings of a secret: 12
	// characters encode 9 bytes. Its alphabet is letters and digits, so a
	// shorter run would withhold messages for ordinary words.
	encodedLeakWindow = 12
	// withheld replaces a partner message that still holds part of a secret.
	withheld = "[the partner's message is withheld: it contains part of the client secret]"
)

// redactor removes a config's secrets from text a partner or a transport
// sent back. A partner may echo what it received in any shape its own
// stack produces, so every form the bytes can take on the way to Vault's
// answer and log is searched: raw, form- and path-encoded, JSON-escaped
// (Go's, Python's ensure_ascii, PHP's escaped slash), Go-quoted (as a
// message field is shown) and whitespace-collapsed (as clean leaves it),
// and the Basic or x-authorization credentials built from it, in every
// base64 alphabet, padded or not.
type redactor struct {
	// forms are replaced by "[redacted]", longest first.
	forms []string
	// windows are the runs a message holding one is withheld for, by
	// length: every leakWindow-character run of each secret in the shapes
	// a message shows text in, and every encodedLeakWindow-character run
	// of each base64 encoding of it.
	windows map[int]map[string]bool
}

// redactor is the redactor of the request's secrets, built on first use
// and kept for the rest of the mint: its size grows with the secrets, and
// a failed mint redacts several messages.
func (r *Request) redactor() *redactor {
	if r.red == nil {
		r.red = r.newRedactor()
	}
	return r.red
}

// newRedactor builds the redactor of the request's secrets: the one it
// sends and the others of the same config it never sends but must not show.
func (r *Request) newRedactor() *redactor {
	red := &redactor{windows: map[int]map[string]bool{leakWindow: {}, encodedLeakWindow: {}}}
	seen := map[string]bool{}
	add := func(form string) {
		if form != "" && !seen[form] {
			seen[form] = true
			red.forms = append(red.forms, form)
		}
	}
	for _, secret := range append(append([]string{r.ClientSecret}, r.OtherSecrets...), r.signatures...) {
		if utf8.RuneCountInString(secret) < minRedactLength {
			continue
		}
		for _, form := range echoForms(secret) {
			add(form)
		}
		for _, shape := range shownShapes(secret) {
			addWindows(red.windows[leakWindow], shape, leakWindow)
		}
		for _, encoded := range base64Forms(r.ClientID, secret) {
			add(encoded)
			addWindows(red.windows[encodedLeakWindow], encoded, encodedLeakWindow)
		}
	}
	// Longest first, so a form that contains another is replaced whole.
	slices.SortStableFunc(red.forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return red
}

// echoForms are the shapes in which secret can come back in a body, but
// for base64Forms.
func echoForms(secret string) []string {
	return []string{
		secret,
		url.QueryEscape(secret),
		url.PathEscape(secret),
		jsonEscaped(secret, true),
		jsonEscaped(secret, false),
		strings.ReplaceAll(jsonEscaped(secret, false), "/", `\/`),
		asciiJSONEscaped(secret),
		quotedInner(strconv.Quote(secret)),
		quotedInner(strconv.QuoteToASCII(secret)),
		collapse(secret),
	}
}

// base64Forms are secret and the Basic credentials built from it (RFC 7617,
// and RFC 6749 §2.3.1's form-encoded variant; DUPR's x-authorization too)
// in each base64 alphabet, padded and not (RFC 4648 §4, §5): a partner may
// quote what it received through any base64 library.
func base64Forms(id, secret string) []string {
	var forms []string
	for _, raw := range []string{secret, id + ":" + secret, url.QueryEscape(id) + ":" + url.QueryEscape(secret)} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(raw)))
		}
	}
	return forms
}

// shownShapes are the shapes in which secret can appear in a finished
// message: as is, quoted as a field value, and collapsed by clean.
func shownShapes(secret string) []string {
	quoted := quotedInner(strconv.Quote(secret))
	return []string{secret, collapse(secret), quoted, collapse(quoted), jsonEscaped(secret, false)}
}

func addWindows(set map[string]bool, s string, size int) {
	runes := []rune(s)
	for i := 0; i+size <= len(runes); i++ {
		set[string(runes[i:i+size])] = true
	}
}

// text replaces every form of every secret in s.
func (red *redactor) text(s string) string {
	for _, form := range red.forms {
		s = strings.ReplaceAll(s, form, "[redacted]")
	}
	return s
}

// leaks reports whether s still holds leakWindow consecutive characters of
// a secret in any shape a message shows, or encodedLeakWindow of a base64
// encoding of it.
func (red *redactor) leaks(s string) bool {
	runes := []rune(s)
	for size, set := range red.windows {
		if len(set) == 0 {
			continue
		}
		for i := 0; i+size <= len(runes); i++ {
			if set[string(runes[i:i+size])] {
				return true
			}
		}
	}
	return false
}

// message is the last step before text becomes an error message: every
// form of a secret replaced, and the whole message withheld if part of a
// secret survived anyway.
func (red *redactor) message(s string) string {
	s = red.text(s)
	if red.leaks(s) {
		return withheld
	}
	return s
}

// redact makes s safe to put into an error: see redactor.message.
func (r *Request) redact(s string) string { return r.redactor().message(s) }

// jsonEscaped is s as a JSON encoder writes it inside a string, with or
// without Go's HTML escaping of < > &.
func jsonEscaped(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return s
	}
	return quotedInner(strings.TrimSuffix(buf.String(), "\n"))
}

// asciiJSONEscaped is s as an encoder that escapes every non-ASCII
// character writes it (Python's json.dumps default, ensure_ascii).
func asciiJSONEscaped(s string) string {
	var b strings.Builder
	for _, c := range jsonEscaped(s, false) {
		switch {
		case c < utf8.RuneSelf:
			b.WriteRune(c)
		case c > 0xFFFF:
			hi, lo := utf16Surrogates(c)
			fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&b, `\u%04x`, c)
		}
	}
	return b.String()
}

func utf16Surrogates(c rune) (hi, lo rune) {
	c -= 0x10000
	return 0xD800 + (c>>10)&0x3FF, 0xDC00 + c&0x3FF
}

// quotedInner strips the quotes around a quoted string.
func quotedInner(q string) string {
	if len(q) >= 2 {
		return q[1 : len(q)-1]
	}
	return q
}

// collapse is s as clean leaves it: control characters turned into
// spaces, runs of white space (U+00A0 and U+0085 included) into one.
func collapse(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)), " ")
}
