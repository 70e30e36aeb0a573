package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestBuiltinRegistersEveryProviderUnderItsSpecName(t *testing.T) {
	registry := Builtin()
	want := []string{"dinie", "doku", "dupr", "oauth2", "podero", "setu"}
	if got := registry.Names(); !slices.Equal(got, want) {
		t.Fatalf("Builtin().Names() = %v, want %v", got, want)
	}
	for name, p := range registry {
		spec := p.Spec()
		if spec.Name != name || spec.Name != strings.ToLower(spec.Name) {
			t.Errorf("provider registered as %q has spec name %q", name, spec.Name)
		}
		if spec.DisplayName == "" || spec.Description == "" || !strings.HasPrefix(spec.Docs, "https://") {
			t.Errorf("%s: spec lacks a display name, description or https docs link: %+v", name, spec)
		}
		for _, env := range spec.Environments {
			if !strings.HasPrefix(env.TokenURL, "https://") {
				t.Errorf("%s: environment %s token URL %q is not https", name, env.Name, env.TokenURL)
			}
		}
	}
}

// contractProvider is a provider whose protocol does only what its test
// says, to show what Mint guarantees around any provider.
type contractProvider struct {
	protocol func(ctx context.Context, req *Request) (*Token, error)
}

func (contractProvider) Spec() Spec {
	return Spec{Name: "contract", DisplayName: "Contract", DefaultLifetime: time.Hour}
}

func (p contractProvider) mint(ctx context.Context, req *Request) (*Token, error) {
	return p.protocol(ctx, req)
}

func TestMintHoldsTheProviderContract(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	request := func() *Request {
		return &Request{TokenURL: srv.URL, ClientID: testClientID, ClientSecret: testSecret, Now: func() time.Time { return testNow }}
	}
	askPartner := func(ctx context.Context, req *Request) error {
		_, err := req.send(ctx, http.Header{}, nil)
		return err
	}

	for _, tc := range []struct {
		name    string
		mint    func(ctx context.Context, req *Request) (*Token, error)
		wantErr string
	}{
		{"a panic in the provider is an error naming the provider", func(context.Context, *Request) (*Token, error) {
			panic("index out of range")
		}, "contract provider failed unexpectedly: index out of range"},
		{"a token the partner was never asked for is refused", func(context.Context, *Request) (*Token, error) {
			return &Token{AccessToken: "made-up", ExpiresAt: testNow.Add(time.Hour)}, nil
		}, "Contract token endpoint: the provider returned a token without asking the partner"},
		{"an empty token is refused in the partner's name", func(ctx context.Context, req *Request) (*Token, error) {
			return &Token{}, askPartner(ctx, req)
		}, "Contract token endpoint answered HTTP 200: answer has no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Mint(t.Context(), contractProvider{protocol: tc.mint}, request())
			if tok != nil || err == nil || err.Error() != tc.wantErr {
				t.Fatalf("got %v, %v; want the error %q", tok, err, tc.wantErr)
			}
		})
	}

	t.Run("a panic's stack goes to the log, the secret nowhere", func(t *testing.T) {
		var logs bytes.Buffer
		req := request()
		req.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, JSONFormat: true})
		_, err := Mint(t.Context(), contractProvider{protocol: func(_ context.Context, req *Request) (*Token, error) {
			panic("cannot parse the answer to " + req.ClientSecret)
		}}, req)
		if err == nil || !strings.Contains(err.Error(), "contract provider failed unexpectedly: cannot parse the answer to [redacted]") {
			t.Fatalf("got %v", err)
		}
		var line struct {
			Message string `json:"@message"`
			Stack   string `json:"stack"`
		}
		if json.Unmarshal(logs.Bytes(), &line) != nil || line.Message != "provider panicked" || !strings.Contains(line.Stack, "provider_test.go") {
			t.Fatalf("the log has no stack of the panic:\n%s", logs.String())
		}
		if strings.Contains(logs.String(), testSecret) {
			t.Fatalf("the log holds the secret:\n%s", logs.String())
		}
	})

	t.Run("a token without an expiry lives the documented lifetime, validated", func(t *testing.T) {
		tok, err := Mint(t.Context(), contractProvider{protocol: func(ctx context.Context, req *Request) (*Token, error) {
			return &Token{AccessToken: "tok"}, askPartner(ctx, req)
		}}, request())
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || !tok.IssuedAt.Equal(testNow) || tok.Lifetime() != time.Hour || tok.ExpirySource != ExpiryDocumented {
			t.Fatalf("token = %+v", tok)
		}
	})
}
