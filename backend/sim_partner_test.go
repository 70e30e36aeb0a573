package backend

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// simPartner is the simulator's generic OAuth2 partner, accepting the test
// client, with what the tests ask of it.
type simPartner struct {
	t   testing.TB
	sim *partnersim.Server
}

// newSimPartner serves a simulator on the test clock whose OAuth2 partner
// accepts testClientID with testClientSecret.
func newSimPartner(t testing.TB, clock clockwork.Clock) *simPartner {
	t.Helper()
	sim := startSimulator(t, partnersim.Options{
		Now:     clock.Now,
		Clients: map[string]partnersim.Client{partnersim.OAuth2: {ID: testClientID, Secret: testClientSecret}},
	})
	return &simPartner{t: t, sim: sim}
}

func (p *simPartner) URL() string { return p.sim.TokenURL(partnersim.OAuth2) }

// mints is how many tokens the partner issued.
func (p *simPartner) mints() int { return p.sim.Mints(partnersim.OAuth2) }

// token is the nth token the partner issued (from 1), "" before it is.
func (p *simPartner) token(n int) string {
	if issued := p.sim.Issued(partnersim.OAuth2); n <= len(issued) {
		return issued[n-1]
	}
	return ""
}

func (p *simPartner) requests() int { return p.sim.Requests(partnersim.OAuth2) }

func (p *simPartner) setLifetime(d time.Duration) {
	if err := p.sim.SetLifetime(partnersim.OAuth2, d); err != nil {
		p.t.Fatal(err)
	}
}

// disabled is the answer of an injected fault: the partner's refusal
// with its own reason, whatever the status.
const disabled = `{"error":"invalid_client","error_description":"client is disabled"}`

func (p *simPartner) failNext(status int) { p.inject(partnersim.Fault{Status: status}) }

// inject queues faults, one request each, answered with the disabled body.
func (p *simPartner) inject(faults ...partnersim.Fault) {
	for _, f := range faults {
		f.Body = disabled
		if err := p.sim.Inject(partnersim.OAuth2, f); err != nil {
			p.t.Fatal(err)
		}
	}
}

// down makes the partner answer 503 to every request until back: an
// outage.
func (p *simPartner) down() {
	p.inject(partnersim.Fault{Status: 503, Times: partnersim.UntilCleared})
}

// back ends the outage down began.
func (p *simPartner) back() {
	if err := p.sim.ClearFaults(partnersim.OAuth2); err != nil {
		p.t.Fatal(err)
	}
}

// acceptSecrets replaces the client secrets the partner accepts, as a
// rotation at the partner does.
func (p *simPartner) acceptSecrets(secret string, more ...string) {
	if err := p.sim.SetClient(partnersim.OAuth2, partnersim.Client{ID: testClientID, Secret: secret, PreviousSecrets: more}); err != nil {
		p.t.Fatal(err)
	}
}

// acceptClient makes the partner accept client id (with the test secret)
// instead of testClientID, as when it issues a new client.
func (p *simPartner) acceptClient(id string) {
	if err := p.sim.SetClient(partnersim.OAuth2, partnersim.Client{ID: id, Secret: testClientSecret}); err != nil {
		p.t.Fatal(err)
	}
}

// hold makes answers wait until the returned release func is called (the
// partner decides them, and issues tokens, at once); arrived is signalled
// for each answer that starts waiting.
func (p *simPartner) hold() (arrived <-chan struct{}, release func()) {
	return p.sim.Hold(partnersim.OAuth2)
}

// presentedSecrets are the client secrets requests carried, in order.
func (p *simPartner) presentedSecrets() []string {
	var out []string
	for _, pr := range p.sim.Presented(partnersim.OAuth2) {
		out = append(out, pr.Secret)
	}
	return out
}

func (p *simPartner) seenClientIDs() []string {
	var out []string
	for _, pr := range p.sim.Presented(partnersim.OAuth2) {
		out = append(out, pr.ClientID)
	}
	return out
}

// arrivals are the real times requests arrived, for rate checks.
func (p *simPartner) arrivals() []time.Time {
	var out []time.Time
	for _, pr := range p.sim.Presented(partnersim.OAuth2) {
		out = append(out, pr.At)
	}
	return out
}

// waitMint waits for mint number n, failing the test after a generous
// real-time bound (a deadlock guard, not a timing assertion).
func (p *simPartner) waitMint(n int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.sim.AwaitMints(ctx, partnersim.OAuth2, n); err != nil {
		p.t.Fatalf("waited for mint %d; partner has minted %d", n, p.mints())
	}
}
