// Package provider holds the partner token protocols. Each partner is one
// small file that knows how to mint a single token: build the request, parse
// the response, report the expiry. None of them knows about caching, leases
// or Vault; the backend decides when to mint (the split golang.org/x/oauth2
// makes between a TokenSource and ReuseTokenSource).
package provider

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// Provider mints bearer tokens for one kind of partner API. Only this
// package implements it, and Mint is the only way to mint: the method that
// holds a partner's protocol is unexported, so no caller can skip the
// contract Mint holds around it. (A type that embeds a Provider, as a test
// does to change its Spec, keeps its protocol and the contract.)
type Provider interface {
	// Spec describes the provider: its name, documented environments and the
	// configuration fields it adds.
	Spec() Spec
	// mint is the partner's protocol: it requests one new token from the
	// partner and parses the answer, and nothing more.
	mint(ctx context.Context, req *Request) (*Token, error)
}

// Request is everything a provider needs to mint one token. TokenURL is
// already resolved from the environment or the operator's override.
type Request struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Key signs the assertions of private_key_jwt and the JWT bearer
	// grant; nil when the config holds none. Like the secret, it was
	// stored for TokenURL and is used for no other endpoint: the
	// assertions it signs name TokenURL as their audience unless the
	// operator set assertion_audience for this endpoint.
	Key *signing.Key
	// OtherSecrets are the config's other secrets (a pending
	// next_client_secret): never sent with this request, and never shown in
	// its errors either, whatever the partner echoes.
	OtherSecrets []string
	// Options holds the provider-specific fields, validated against Spec.Fields.
	Options Options
	// Client sends the request. Its timeout is set by the caller's context.
	Client *http.Client
	// Now is the local clock; tests replace it.
	Now func() time.Time
	// Logger receives what only a developer can use: the stack of a panic
	// in the provider, never a secret. Nil logs nothing.
	Logger hclog.Logger

	// Set by Mint for the provider's helpers: the partner's display name
	// for every error, its documented token lifetime, and the answer the
	// token is parsed from.
	partner    string
	documented time.Duration
	answer     *response
	// signatures are those of the assertions this request sends: a
	// partner that quotes one back must not put a usable copy in a log.
	signatures []string
	// red is the redactor of the secrets, once a message needed it.
	red *redactor
}

// Mint asks p for one token. It holds the contract every provider relies
// on, so that a provider's mint is only its protocol: every error names the
// partner, a panic in partner-parsing code is an error instead of a crashed
// plugin (its stack logged, its message redacted), and the token is
// validated (finished) before anyone gets it.
func Mint(ctx context.Context, p Provider, req *Request) (tok *Token, err error) {
	spec := p.Spec()
	r := *req
	r.partner, r.documented, r.answer, r.signatures, r.red = spec.DisplayName, spec.DefaultLifetime, nil, nil, nil
	defer func() {
		if v := recover(); v != nil {
			said := r.redact(fmt.Sprint(v))
			if r.Logger != nil {
				// A stack trace shows argument words as numbers, never the
				// strings they point to.
				r.Logger.Error("provider panicked", "provider", spec.Name, "panic", said, "stack", string(debug.Stack()))
			}
			tok, err = nil, fmt.Errorf("%s provider failed unexpectedly: %s", spec.Name, said)
		}
	}()
	if tok, err = p.mint(ctx, &r); err != nil {
		return nil, r.pointToOtherDocumentedURL(spec, err)
	}
	return r.finish(tok)
}

func (r *Request) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Token is one bearer token as the partner issued it.
type Token struct {
	AccessToken string
	// TokenType is always "Bearer": partners spell it "bearer" or omit it.
	TokenType string
	// IssuedAt is the local time the request was sent; lifetimes reported
	// relative to the response are counted from it, so network latency can
	// only shorten the token's life in our eyes, never lengthen it.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// ExpirySource says where ExpiresAt came from (one of the Expiry*
	// constants), for the operator reading the log: a partner that stops
	// sending its expiry shows up as a change of source.
	ExpirySource string
	// Extra holds what the partner reports besides the token (e.g. scope).
	Extra map[string]string
}

// Where a token's expiry came from.
const (
	// ExpiryExpiresIn is the answer's expires_in (RFC 6749 §5.1).
	ExpiryExpiresIn = "expires_in"
	// ExpiryJWT is the exp claim of the token itself.
	ExpiryJWT = "jwt_exp"
	// ExpiryPartnerTime is an absolute expiry in the answer (DUPR's result.expiry).
	ExpiryPartnerTime = "expiry"
	// ExpiryRequested is the lifetime the engine asked for (DOKU's valid_time).
	ExpiryRequested = "valid_time"
	// ExpiryConfigured is the operator's token_lifetime (oauth2).
	ExpiryConfigured = "token_lifetime"
	// ExpiryDocumented is the partner's documented lifetime (Spec.DefaultLifetime).
	ExpiryDocumented = "documented_lifetime"
)

// Lifetime is how long the token lives from when it was requested.
func (t *Token) Lifetime() time.Duration { return t.ExpiresAt.Sub(t.IssuedAt) }

// Spec describes a provider kind for validation and for `GET providers`.
type Spec struct {
	Name        string
	DisplayName string
	Description string
	// Docs points at the partner's own documentation of the token endpoint.
	Docs         string
	Environments []Environment
	Fields       []Field
	// DefaultLifetime is the partner's documented token lifetime, used when
	// a response carries no expiry at all. Zero means a response must carry one.
	DefaultLifetime time.Duration
	// Deprecation, when not empty, is the partner's own notice that this
	// API is kept only for existing integrations: the engine warns whoever
	// configures it.
	Deprecation string
	// Signs says the provider can sign assertions with a private key, so
	// its configs may hold one (private_key, generate_private_key).
	Signs bool
	// Credentials says what a config with these options authenticates
	// with; nil means the client secret alone.
	Credentials func(Options) Credentials
	// Check validates the options as a whole, after each field's own
	// Check; its error names the fields and what to fix.
	Check func(Options) error
}

// Environment is a documented deployment of the partner's token endpoint.
type Environment struct {
	Name string
	// Aliases are the partner's own names for it (DUPR calls its sandbox "uat").
	Aliases  []string
	TokenURL string
	// OtherDocumentedURL is the token URL the partner's other sources give
	// for this environment, where they disagree with TokenURL's. A 404 from
	// TokenURL names it, for the operator to set as token_url.
	OtherDocumentedURL string
}

// Environment returns the environment called name or one of its aliases.
func (s Spec) Environment(name string) (Environment, bool) {
	for _, env := range s.Environments {
		if env.Name == name {
			return env, true
		}
		for _, alias := range env.Aliases {
			if alias == name {
				return env, true
			}
		}
	}
	return Environment{}, false
}

// Field returns the provider-specific field called name.
func (s Spec) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Registry maps provider names to providers.
type Registry map[string]Provider

// NewRegistry registers the given providers by their spec names.
func NewRegistry(providers ...Provider) Registry {
	r := make(Registry, len(providers))
	for _, p := range providers {
		r[p.Spec().Name] = p
	}
	return r
}

// Names lists the registered providers in alphabetical order.
func (r Registry) Names() []string { return slices.Sorted(maps.Keys(r)) }

// Builtin returns every provider this engine ships with.
func Builtin() Registry {
	return NewRegistry(
		oauth2{},
		dupr{},
		setu{},
		podero{},
		doku{},
		dinie{},
	)
}
