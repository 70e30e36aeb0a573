package backend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// TestStatusSampleIsWhatTheEngineSays plays the story the status sample in
// docs/operations.md tells, renders status/dupr as `vault read` prints it,
// and compares the two: a DUPR production config whose token was minted at
// 10:00 and read three times half a minute later, and a forced refresh at
// 10:01 that DUPR refused, the secret having been revoked there.
func TestStatusSampleIsWhatTheEngineSays(t *testing.T) {
	env := newTestEnv(t) // 2026-11-23T10:00:00Z
	sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
	production := env.b.providers["dupr"].Spec()
	prodURL := ""
	for _, e := range production.Environments {
		if e.Name == "production" {
			prodURL = e.TokenURL
		}
	}
	// DUPR's production endpoint is answered by the simulator.
	env.b.client.Transport = reroute{from: prodURL, to: sim.TokenURL(partnersim.DUPR)}
	client := partnersim.DefaultClients()[partnersim.DUPR]
	env.mustOK(logical.CreateOperation, "config/dupr", map[string]any{
		"provider": "dupr", "environment": "production", "client_id": client.ID, "client_secret": client.Secret,
	})
	env.readToken("dupr")
	env.clock.Advance(30 * time.Second)
	for range 3 {
		env.readToken("dupr")
	}
	env.clock.Advance(30 * time.Second)
	if err := sim.SetClient(partnersim.DUPR, partnersim.Client{ID: client.ID, Secret: "revoked-" + client.Secret}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.request(logical.UpdateOperation, "refresh/dupr", nil); err == nil {
		t.Fatal("the forced refresh with a revoked secret succeeded")
	}

	status := env.mustOK(logical.ReadOperation, "status/dupr", nil)
	got := vaultReadTable(t, status)
	want := docSample(t, operationsDoc, "$ vault read partner/status/dupr")
	if got != want {
		t.Errorf("the status sample in %s is not what the engine answers; the engine's, as `vault read` prints it:\n%s", operationsDoc, got)
	}
}

// reroute sends the requests for one URL to another, over plain HTTP.
type reroute struct{ from, to string }

func (r reroute) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() != r.from {
		return nil, fmt.Errorf("the test partner serves only %s, not %s", r.from, req.URL)
	}
	to, err := url.Parse(r.to)
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.URL, req.Host = to, to.Host
	return http.DefaultTransport.RoundTrip(req)
}

// vaultReadTable is the data of resp as `vault read` prints it: the answer
// decoded from JSON as Vault's API client decodes it, one key a line in
// sorted order, the keys padded to the longest and two spaces before the
// value (the CLI's TableFormatter and columnize).
func vaultReadTable(t *testing.T, resp *logical.Response) string {
	t.Helper()
	if len(resp.Warnings) > 0 {
		t.Fatalf("the answer carries warnings, which the sample does not show: %q", resp.Warnings)
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		t.Fatal(err)
	}
	rows := [][2]string{{"Key", "Value"}, {"---", "-----"}}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rows = append(rows, [2]string{k, fmt.Sprint(data[k])})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	var out strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&out, "%-*s  %s\n", width, r[0], r[1])
	}
	return out.String()
}

// docSample is the output that follows the command line prompt in a code
// block of the document at path, up to the next prompt or the end of the
// block.
func docSample(t *testing.T, path, prompt string) string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, found := strings.Cut(string(doc), "\n"+prompt+"\n")
	if !found {
		t.Fatalf("%s has no line %q", path, prompt)
	}
	var out strings.Builder
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "$ ") || strings.HasPrefix(line, "```") {
			break
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}
