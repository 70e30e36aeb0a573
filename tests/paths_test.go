package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// update rewrites the golden answers of docs/paths.md from this run:
//
//	E2E_FLAGS='-run TestDocs/paths -update' make test-e2e-vault
//
// which writes tests/testdata/paths/*.json and the answer blocks of
// docs/paths.md; review the diff before committing it.
var update = flag.Bool("update", false, "rewrite tests/testdata/paths/*.json and the answer blocks of docs/paths.md")

const pathsPage = "docs/paths.md"

// pathSample is a request block of docs/paths.md, run with curl as written,
// and its answer.
type pathSample struct {
	id string
	// before makes what the request needs that no earlier sample made.
	before func(ctx context.Context, t *testing.T, d *docsEnv)
	// noBody: the answer is an empty 204, so the page shows no answer block.
	noBody bool
}

// The fixed values volatile parts of an answer are shown as. Times keep
// their distance from the moment the samples began, shown as sampleEpoch.
var (
	sampleEpoch     = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	sampleRequestID = "8f1c2a34-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
	sampleLeaseID   = "Jm3vQ8WbT2xYpN7cLr5kHs0d"
	sampleToken     = "2YotnFZFEjr1zCsicMWpAA" // RFC 6749's example access token
)

// sampleTolerance is how far a number under these keys may be from the
// golden one and still be the same answer: it depends on how many seconds
// the run took between mint and read, or on how fast the mint was
// (math.Inf: any value).
var sampleTolerance = map[string]float64{
	"lease_duration":          10,
	"ttl":                     10,
	"rotation_period":         2,
	"live_leases_estimate":    3,
	"leased_reads_per_second": 0.05,
	"sum_seconds":             math.Inf(1),
	"buckets_seconds":         math.Inf(1),
}

// vaultOnlyEnvelope are the keys of an answer's envelope that Vault has
// and OpenBao does not.
var vaultOnlyEnvelope = map[string]bool{"mount_type": true}

// samplesTimeTolerance is how far a time may be from the golden one.
const samplesTimeTolerance = 15 * time.Second

// paths runs every request block of docs/paths.md, in the page's order,
// against the empty mount of the docs server, and compares each answer,
// its volatile values normalised, with tests/testdata/paths/<id>.json and
// with the answer block of the page. With -update it rewrites both.
func (d *docsEnv) paths(t *testing.T) {
	ctx := ctxFor(t)
	client := d.sim.client("oauth2")
	// The page's names and this test's: requests run with the first
	// replaced by the second, answers are shown the other way round.
	names := []string{
		"https://auth.example.com/oauth2/token", d.sim.tokenURL("oauth2"),
		"auth.example.com", "127.0.0.1",
		"billing-client", client.ID,
	}
	toTest, toPage := strings.NewReplacer(names...), strings.NewReplacer(reversePairs(names)...)
	sh := d.shell()
	began := time.Now().Truncate(time.Second)
	var minted time.Time

	samples := []pathSample{
		{id: "paths-settings-write", noBody: true},
		{id: "paths-settings-read"},
		{id: "paths-config-write"},
		{id: "paths-config-read"},
		{id: "paths-config-list"},
		{id: "paths-token-read"},
		{id: "paths-refresh", before: func(ctx context.Context, t *testing.T, d *docsEnv) {
			// A token younger than 5 s is kept, not replaced.
			time.Sleep(time.Until(minted.Add(6 * time.Second)))
		}},
		{id: "paths-status-read"},
		{id: "paths-status-list"},
		{id: "paths-metrics"},
		{id: "paths-providers"},
		{id: "paths-token-read-none", before: func(ctx context.Context, t *testing.T, d *docsEnv) {
			if _, err := d.v.root.write(ctx, mount+"/config/billing-api", map[string]any{"lease_mode": "none"}); err != nil {
				t.Fatal(err)
			}
		}},
		{id: "paths-error-name"},
		{id: "paths-error-missing"},
		{id: "paths-error-field"},
		{id: "paths-error-partner", before: func(ctx context.Context, t *testing.T, d *docsEnv) {
			if err := configure(ctx, d.v.root, mount, "refused", "oauth2", d.sim, map[string]any{"client_secret": "not-the-secret"}); err != nil {
				t.Fatal(err)
			}
		}},
		{id: "paths-jwks-read", before: func(ctx context.Context, t *testing.T, d *docsEnv) {
			if _, err := d.v.root.write(ctx, mount+"/config/signing-api", map[string]any{
				"provider": "oauth2", "token_url": d.sim.tokenURL("oauth2"), "client_id": "signing-client",
				"auth_method": "private_key_jwt", "private_key": rfc7515A3KeyPEM(t), "private_key_id": "2026-11",
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = d.v.root.delete(context.Background(), mount+"/config/signing-api") })
		}},
		{id: "paths-config-delete", noBody: true},
	}
	seen := map[string]bool{}
	for _, s := range samples {
		seen[s.id] = true
		if s.before != nil {
			s.before(ctx, t, d)
		}
		request := toTest.Replace(docBlock(t, pathsPage, "run", s.id, nil))
		run := sh
		if strings.Contains(request, "read -rs CLIENT_SECRET") {
			run.stdin = client.Secret + "\n"
		}
		out, err := run.exec(t, ctx, request)
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", s.id, err, request, out)
		}
		if s.id == "paths-config-write" {
			minted = time.Now()
		}
		if s.noBody {
			if strings.TrimSpace(out) != "" {
				t.Errorf("%s answered %q, want no body (204)", s.id, out)
			}
			continue
		}
		got, err := decodeOrdered([]byte(toPage.Replace(out)))
		if err != nil {
			t.Fatalf("%s: the answer is not JSON (%v):\n%s", s.id, err, out)
		}
		normaliseSample(got, "", began)
		checkSample(t, s.id, got)
	}

	// Every golden answer belongs to a request of the page.
	goldens, _ := filepath.Glob(filepath.Join("testdata", "paths", "*.json"))
	for _, g := range goldens {
		if id := strings.TrimSuffix(filepath.Base(g), ".json"); !seen[id] {
			t.Errorf("%s belongs to no request of %s", g, pathsPage)
		}
	}
}

// checkSample compares a normalised answer with its golden file and with
// the page's answer block, or rewrites both (-update).
func checkSample(t *testing.T, id string, got any) {
	t.Helper()
	golden := filepath.Join("testdata", "paths", id+".json")
	if *update {
		if env.server != vaultKind {
			t.Fatalf("-update: the page shows Vault's answers; rewrite them in the Vault pass (make test-e2e-vault)")
		}
		writeFile(t, golden, encodeIndented(got))
		if err := os.Chmod(golden, 0o644); err != nil {
			t.Fatal(err)
		}
		replaceDocBlock(t, pathsPage, "answer", id, encodeIndented(got))
		return
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Errorf("%s: %v (write it with -update, see tests/paths_test.go)", id, err)
		return
	}
	want, err := decodeOrdered(data)
	if err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	if env.server != vaultKind {
		// The engine answers the same; the server's envelope may lack
		// what only Vault adds to it.
		if obj, ok := want.(*jsonObject); ok {
			obj.keys = slices.DeleteFunc(obj.keys, func(k string) bool { return vaultOnlyEnvelope[k] })
		}
	}
	if !sameSample(got, want, "") {
		t.Errorf("%s: the answer differs from %s beyond its volatile values; if the change is right, rewrite it with -update.\ngot:\n%swant:\n%s",
			id, golden, encodeIndented(got), data)
	}
	if block := docBlock(t, pathsPage, "answer", id, nil); block != string(data) {
		t.Errorf("the answer block %s of %s is not %s; rewrite it with -update.\nthe page:\n%s", id, pathsPage, golden, block)
	}
}

// normaliseSample replaces the volatile values of an answer in place:
// request and lease IDs, tokens, and times (kept at their distance from
// began, shown from sampleEpoch).
func normaliseSample(v any, key string, began time.Time) any {
	switch v := v.(type) {
	case *jsonObject:
		for _, k := range v.keys {
			if strings.HasSuffix(k, "_timestamp_seconds") {
				v.values[k] = normaliseTimestamps(v.values[k], began)
				continue
			}
			v.values[k] = normaliseSample(v.values[k], k, began)
		}
	case []any:
		for i := range v {
			v[i] = normaliseSample(v[i], key, began)
		}
	case string:
		switch {
		case key == "request_id" && v != "":
			return sampleRequestID
		case key == "lease_id" && v != "":
			return v[:strings.LastIndex(v, "/")+1] + sampleLeaseID
		case key == "access_token":
			return sampleToken
		}
		if at, err := time.Parse(time.RFC3339, v); err == nil {
			return sampleEpoch.Add(at.Sub(began)).Format(time.RFC3339)
		}
	}
	return v
}

// timestampStep is what a metric's Unix time is rounded to once moved to
// sampleEpoch: coarser than the seconds a mint takes after the samples
// began, so the same answer gives the same sample on every run.
const timestampStep = 5 * time.Minute

// normaliseTimestamps moves the Unix times of a *_timestamp_seconds metric
// (its series' values) to sampleEpoch, as normaliseSample moves RFC 3339
// times, rounded to timestampStep.
func normaliseTimestamps(v any, began time.Time) any {
	switch v := v.(type) {
	case *jsonObject:
		for _, k := range v.keys {
			v.values[k] = normaliseTimestamps(v.values[k], began)
		}
	case []any:
		for i := range v {
			v[i] = normaliseTimestamps(v[i], began)
		}
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v
		}
		at := time.Unix(0, int64(f*float64(time.Second)))
		return json.Number(strconv.FormatInt(sampleEpoch.Add(at.Sub(began)).Round(timestampStep).Unix(), 10))
	}
	return v
}

// sameSample tells whether an answer is the golden one: equal, but for
// the numbers of sampleTolerance and times, which may be a little off.
func sameSample(got, want any, key string) bool {
	if tol, ok := sampleTolerance[key]; ok && math.IsInf(tol, 1) {
		return true
	}
	switch w := want.(type) {
	case *jsonObject:
		g, ok := got.(*jsonObject)
		if !ok || strings.Join(g.keys, ",") != strings.Join(w.keys, ",") {
			return false
		}
		for _, k := range w.keys {
			if !sameSample(g.values[k], w.values[k], k) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameSample(g[i], w[i], key) {
				return false
			}
		}
		return true
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		gf, err1 := g.Float64()
		wf, err2 := w.Float64()
		return err1 == nil && err2 == nil && math.Abs(gf-wf) <= sampleTolerance[key]
	case string:
		g, ok := got.(string)
		if !ok {
			return false
		}
		gt, err1 := time.Parse(time.RFC3339, g)
		wt, err2 := time.Parse(time.RFC3339, w)
		if err1 == nil && err2 == nil {
			return gt.Sub(wt).Abs() <= samplesTimeTolerance
		}
		return g == w
	}
	return fmt.Sprint(got) == fmt.Sprint(want)
}

// reversePairs turns old, new pairs for strings.NewReplacer around.
func reversePairs(pairs []string) []string {
	out := make([]string, len(pairs))
	for i := 0; i < len(pairs); i += 2 {
		out[i], out[i+1] = pairs[i+1], pairs[i]
	}
	return out
}

// replaceDocBlock rewrites the text of the block marked "<!-- kind: id -->"
// in the document at path (relative to the repository root).
func replaceDocBlock(t *testing.T, path, kind, id, text string) {
	t.Helper()
	var block *fencedBlock
	for _, b := range fencedBlocks(t, path) {
		if b.kind == kind && b.id == id {
			block = &b
		}
	}
	if block == nil {
		t.Fatalf("%s has no block marked <!-- %s: %s -->: add an empty one where the answer belongs", path, kind, id)
	}
	file := filepath.Join("..", path)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	indent := lines[block.line-1][:len(lines[block.line-1])-len(strings.TrimLeft(lines[block.line-1], " "))]
	end := block.line // the first line after the opening fence, from 0
	for strings.TrimSpace(lines[end]) != "```" {
		end++
	}
	var body []string
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		body = append(body, indent+l)
	}
	lines = append(lines[:block.line], append(body, lines[end:]...)...)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rfc7515A3KeyPEM is the P-256 key of RFC 7515 appendix A.3 as PKCS #8
// PEM: a published key, so the JWKS sample is the same on every run.
func rfc7515A3KeyPEM(t *testing.T) string {
	t.Helper()
	coord := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return new(big.Int).SetBytes(b)
	}
	key := &ecdsa.PrivateKey{
		PublicKey: ecdsa.PublicKey{Curve: elliptic.P256(),
			X: coord("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"), Y: coord("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")},
		D: coord("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"),
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
