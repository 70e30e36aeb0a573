package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/simadmin"
)

// newHTTPClient returns a client with a keep-alive pool of up to conns
// connections to Vault, so every concurrent reader keeps its own.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // never a proxy between the load and Vault
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns + 16,
			MaxIdleConnsPerHost: conns + 16,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
		Timeout: 2 * time.Minute,
	}
}

// vault speaks Vault's HTTP API for setup and checks. The hot loops use
// reader, which reuses one request per goroutine.
type vault struct {
	addr  string
	token string
	http  *http.Client
}

// vaultResponse is the part of Vault's JSON answer the tool looks at.
type vaultResponse struct {
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Errors        []string       `json:"errors"`
}

// do sends one request; body (if not nil) goes as JSON. Answers outside
// 2xx are errors naming Vault's messages.
func (v *vault) do(ctx context.Context, method, path string, body any) (*vaultResponse, int, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.addr+"/v1/"+path, r)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	out := &vaultResponse{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, resp.StatusCode, fmt.Errorf("%s %s: HTTP %d, not JSON: %.200s", method, path, resp.StatusCode, data)
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.Join(out.Errors, "; "))
	}
	return out, resp.StatusCode, nil
}

func (v *vault) read(ctx context.Context, path string) (*vaultResponse, error) {
	r, _, err := v.do(ctx, http.MethodGet, path, nil)
	return r, err
}

func (v *vault) write(ctx context.Context, path string, body map[string]any) error {
	_, _, err := v.do(ctx, http.MethodPost, path, body)
	return err
}

func (v *vault) list(ctx context.Context, path string) ([]string, error) {
	r, status, err := v.do(ctx, http.MethodGet, strings.TrimSuffix(path, "/")+"/?list=true", nil)
	if status == http.StatusNotFound {
		return nil, nil // Vault answers a LIST of nothing with 404
	}
	if err != nil {
		return nil, err
	}
	raw, _ := r.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		s, _ := k.(string)
		keys = append(keys, s)
	}
	return keys, nil
}

// reader issues GETs of one path from one goroutine, reusing its request
// and buffer, so the load generator spends as little CPU as it can: it
// shares the machine with Vault.
type reader struct {
	client *http.Client
	req    *http.Request
	buf    bytes.Buffer
	// status is the HTTP status of the last get; 0 when no answer came.
	status int
}

func newReader(client *http.Client, addr, token, path string) *reader {
	req, err := http.NewRequest(http.MethodGet, addr+"/v1/"+path, nil)
	if err != nil {
		fatalf("%v", err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	return &reader{client: client, req: req}
}

// get reads the path once; the body stays in r.buf until the next call.
func (r *reader) get() error {
	r.status = 0
	resp, err := r.client.Do(r.req)
	if err != nil {
		return err
	}
	r.status = resp.StatusCode
	r.buf.Reset()
	_, err = r.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %.200s", r.req.URL.Path, resp.StatusCode, r.buf.Bytes())
	}
	return nil
}

// accessToken finds data.access_token in the body of the last get without
// decoding it all.
func (r *reader) accessToken() string { return string(r.tokenBytes()) }

// tokenHash is an FNV-1a hash of data.access_token, to tell tokens apart
// without keeping them.
func (r *reader) tokenHash() uint64 {
	h := uint64(14695981039346656037)
	for _, c := range r.tokenBytes() {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func (r *reader) tokenBytes() []byte {
	const key = `"access_token":"`
	b := r.buf.Bytes()
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil
	}
	return b[:j]
}

// simulator is the partner simulator's handshake and admin API.
type simulator struct {
	URL       string            `json:"url"`
	TokenURLs map[string]string `json:"token_urls"`
	Clients   map[string]struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	} `json:"clients"`
	http *http.Client
}

func loadSimulator(path string) (*simulator, error) {
	if path == "" {
		return nil, errors.New("this mode needs -sim-handshake: the file holding the simulator's first stdout line")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &simulator{http: &http.Client{Timeout: 10 * time.Second}}
	if err := json.Unmarshal(bytes.TrimSpace(data), s); err != nil || s.URL == "" {
		return nil, fmt.Errorf("%s does not hold the simulator's handshake line (%v)", path, err)
	}
	return s, nil
}

func (s *simulator) admin(ctx context.Context, method, path string, body, out any) error {
	return simadmin.Client{URL: s.URL, HTTP: s.http}.Call(ctx, method, path, body, out)
}

func (s *simulator) stats(ctx context.Context, partner string) (partnersim.Stats, error) {
	all, err := simadmin.Client{URL: s.URL, HTTP: s.http}.Stats(ctx)
	if err != nil {
		return partnersim.Stats{}, err
	}
	st, ok := all[partner]
	if !ok {
		return partnersim.Stats{}, fmt.Errorf("the simulator has no partner %q", partner)
	}
	return st, nil
}

func (s *simulator) delay(ctx context.Context, partner string, d time.Duration) error {
	return s.admin(ctx, http.MethodPost, "faults/"+partner, map[string]any{"delay": d.String()}, nil)
}

// outage makes partner answer status to every token request until
// clearFaults.
func (s *simulator) outage(ctx context.Context, partner string, status int) error {
	return simadmin.Client{URL: s.URL, HTTP: s.http}.StartOutage(ctx, partner, status)
}

func (s *simulator) clearFaults(ctx context.Context, partner string) error {
	return simadmin.Client{URL: s.URL, HTTP: s.http}.ClearFaults(ctx, partner)
}

func (s *simulator) setLifetime(ctx context.Context, partner string, d time.Duration) error {
	return s.admin(ctx, http.MethodPut, "lifetimes/"+partner, map[string]any{"lifetime": d.String()}, nil)
}

// writeConfig configures name in the mount to mint from partner at the
// simulator, with extra config fields.
func writeConfig(ctx context.Context, v *vault, s *simulator, mount, name, partner string, extra map[string]any) error {
	c, ok := s.Clients[partner]
	if !ok || s.TokenURLs[partner] == "" {
		return fmt.Errorf("the simulator has no partner %q", partner)
	}
	body := map[string]any{
		"provider":      partner,
		"token_url":     s.TokenURLs[partner],
		"client_id":     c.ID,
		"client_secret": c.Secret,
	}
	for k, x := range extra {
		body[k] = x
	}
	return v.write(ctx, mount+"/config/"+name, body)
}
