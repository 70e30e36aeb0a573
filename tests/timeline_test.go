package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// timeline tells, per token a reader of one config got, the story a test
// that watched a rendered file needs when the file held an expired token:
// when Vault received each read, when the engine computed its lease (the
// delay it allowed for, the TTL, the token's mint and expiry as the engine
// counts them), when Vault answered and so when the lease ends, when the
// partner says the token expires, when the reader (Agent or Proxy) logged
// a read, a renewal, a sleep or a render, and when the test saw the token in
// the file. Events come from the audit log, the Vault log (the engine's
// "leasing token" trace line), the reader's log and the test's own checks.
type timeline struct {
	config string // the config's token path, mount/token/name
	events []timelineEvent
	tokens []string          // in the order first met
	index  map[string]int    // token -> 1-based number
	hashes map[string]string // audit HMAC of a token -> token
}

type timelineEvent struct {
	at     time.Time
	source string
	token  int // 0 when unknown
	text   string
}

func newTimeline(path string) *timeline {
	return &timeline{config: path, index: map[string]int{}, hashes: map[string]string{}}
}

// number is tok's 1-based number, assigned on first sight.
func (tl *timeline) number(tok string) int {
	if tok == "" {
		return 0
	}
	if n, ok := tl.index[tok]; ok {
		return n
	}
	tl.tokens = append(tl.tokens, tok)
	tl.index[tok] = len(tl.tokens)
	return len(tl.tokens)
}

func (tl *timeline) add(at time.Time, source, tok, format string, args ...any) {
	tl.events = append(tl.events, timelineEvent{at: at, source: source, token: tl.number(tok), text: fmt.Sprintf(format, args...)})
}

// String prints the events in time order, each with its token's number.
func (tl *timeline) String() string {
	slices.SortStableFunc(tl.events, func(a, b timelineEvent) int { return a.at.Compare(b.at) })
	var b strings.Builder
	fmt.Fprintf(&b, "timeline of %s (UTC; #n is the nth token met):\n", tl.config)
	for _, e := range tl.events {
		tok := "   "
		if e.token > 0 {
			tok = fmt.Sprintf("#%-2d", e.token)
		}
		fmt.Fprintf(&b, "  %s %-7s %s %s\n", e.at.UTC().Format("15:04:05.000"), e.source, tok, e.text)
	}
	return b.String()
}

// addPartnerExpiries asks the simulator when each token met expires.
func (tl *timeline) addPartnerExpiries(sim *simulator, partner string) {
	for _, tok := range tl.tokens {
		var out struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := sim.admin("POST", "introspect", map[string]string{"partner": partner, "token": tok}, &out); err != nil || out.ExpiresAt.IsZero() {
			continue
		}
		tl.add(out.ExpiresAt, "partner", tok, "token expires (the partner's clock, whole seconds)")
	}
}

// learnHashes asks Vault for the audit HMAC of every token given, so the
// audit log's answers can be matched to tokens.
func (tl *timeline) learnHashes(ctx context.Context, c *vaultClient, device string, tokens []string) {
	for _, tok := range tokens {
		tl.number(tok)
		resp, err := c.write(ctx, "sys/audit-hash/"+device, map[string]any{"input": tok})
		if err != nil {
			continue
		}
		if h, ok := resp.Data["hash"].(string); ok {
			tl.hashes[h] = tok
		}
	}
}

// addAudit reads the reads of the config from the audit log: the request
// (Vault received it) and the response (Vault answered, with the token).
func (tl *timeline) addAudit(path string, since time.Time) map[string]string {
	tokenOf := map[string]string{} // request ID -> token
	eachLine(path, func(line string) {
		var entry struct {
			Time    time.Time `json:"time"`
			Type    string    `json:"type"`
			Request struct {
				ID   string `json:"id"`
				Path string `json:"path"`
			} `json:"request"`
			Response struct {
				Data   map[string]any `json:"data"`
				Secret *struct {
					LeaseID string `json:"lease_id"`
				} `json:"secret"`
			} `json:"response"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Request.Path != tl.config || entry.Time.Before(since) {
			return
		}
		id := shortID(entry.Request.ID)
		switch entry.Type {
		case "request":
			tl.add(entry.Time, "vault", "", "read %s received", id)
		case "response":
			hash, _ := entry.Response.Data["access_token"].(string)
			tok := tl.hashes[hash]
			tokenOf[entry.Request.ID] = tok
			switch {
			case entry.Error != "":
				tl.add(entry.Time, "vault", tok, "read %s answered with an error: %s", id, entry.Error)
			default:
				tl.add(entry.Time, "vault", tok, "read %s answered", id)
			}
		}
	})
	return tokenOf
}

// leasingLine matches the engine's trace line for one leased read.
var leasingLine = regexp.MustCompile(`^(\S+) \[TRACE\].*leasing token: (.*)$`)

// addEngine reads the engine's "leasing token" lines for the config from
// the Vault log; tokenOf maps request IDs to tokens (from the audit log).
func (tl *timeline) addEngine(logPath, name string, tokenOf map[string]string, since time.Time) {
	eachLine(logPath, func(line string) {
		m := leasingLine.FindStringSubmatch(line)
		if m == nil {
			return
		}
		kv := keyValues(m[2])
		if kv["config"] != name {
			return
		}
		leasedAt, err := time.Parse(time.RFC3339Nano, kv["leased_at"])
		if err != nil || leasedAt.Before(since) {
			return
		}
		arrived, _ := time.Parse(time.RFC3339Nano, kv["arrived_at"])
		ttl, _ := time.ParseDuration(kv["ttl"])
		tok := tokenOf[kv["request_id"]]
		tl.add(arrived, "engine", tok, "read %s arrived in the engine", shortID(kv["request_id"]))
		tl.add(leasedAt, "engine", tok, "read %s leased: ttl %s (ends about %s), delay allowance %s, token minted %s, expires %s (engine's count)",
			shortID(kv["request_id"]), kv["ttl"], leasedAt.Add(ttl).UTC().Format("15:04:05.000"), kv["delay_allowance"],
			clock(kv["minted_at"]), clock(kv["expires_at"]))
	})
}

// readerLine matches the lines of an Agent's or Proxy's log that matter to
// a lease: reads, renewals, sleeps, renders, cache decisions.
var readerLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\S+) \[\w+\]\s+(.*(?:rendered|receiving dependency|set sleep|renew|non-renewable|lease|cache|GET /v1/).*)$`)

// addReader adds the lines of a reader's (Agent's, Proxy's) log that
// mention the config's path, or that tell of a render.
func (tl *timeline) addReader(source, logPath string, since time.Time) {
	eachLine(logPath, func(line string) {
		m := readerLine.FindStringSubmatch(line)
		if m == nil {
			return
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || at.Before(since) {
			return
		}
		if !strings.Contains(m[2], tl.config) && !strings.Contains(m[2], "rendered") {
			return
		}
		text := m[2]
		if len(text) > 160 {
			text = text[:160] + "…"
		}
		tl.add(at, source, "", "%s", text)
	})
}

// eachLine calls fn with each line of the file at path, lines up to 16 MiB
// long; a file that cannot be opened has no lines (the timeline is a
// diagnosis that shows what it can).
func eachLine(path string, fn func(line string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	for scanner.Scan() {
		fn(scanner.Text())
	}
}

// keyValues splits hclog's `k=v k="v w"` into a map.
func keyValues(s string) map[string]string {
	kv := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`).FindAllStringSubmatch(s, -1) {
		kv[m[1]] = strings.Trim(m[2], `"`)
	}
	return kv
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// clock shows an RFC 3339 time as the time of day.
func clock(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("15:04:05.000")
}
