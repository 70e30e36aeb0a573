package partnersim

import (
	"context"
	"sync"
	"time"
)

// What the simulator records for in-process tests: the credentials each
// request presented, the tokens issued in order, and answers held back
// until the test lets them go. Kept in memory only: never logged, never
// served by the admin API, so a presented secret stays in the test.

// Presented is what one token request authenticated with, as the partner
// parsed it (every partner but DOKU, which only signs with the secret).
type Presented struct {
	ClientID string
	Secret   string
	// Method is how an oauth2 request authenticated when not with a
	// secret: private_key_jwt, client_secret_jwt or tls_client_auth, or
	// jwt_bearer for the grant's assertion; empty for a secret.
	Method string
	// KeyID is the kid in the header of the assertion presented.
	KeyID string
	// At is the real time the request was checked; rate checks use it.
	At time.Time
}

// record is the simulator's memory of requests and tokens for tests.
type record struct {
	mu        sync.Mutex
	presented map[string][]Presented
	issued    map[string][]string
	// minted is closed and replaced at every mint, waking AwaitMints.
	minted chan struct{}
	holds  map[string]*held
}

// held is a Hold in force: requests wait for gate and say so on arrived.
type held struct {
	gate    chan struct{}
	arrived chan struct{}
}

// maxIssuedRecorded bounds the issued tokens kept per partner, for a
// simulator that runs for days under `make dev`.
const maxIssuedRecorded = 100_000

func (r *record) present(partner string, p Presented) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.presented == nil {
		r.presented = map[string][]Presented{}
	}
	p.At = time.Now()
	r.presented[partner] = append(r.presented[partner], p)
}

func (r *record) issue(partner, token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.issued == nil {
		r.issued = map[string][]string{}
	}
	if len(r.issued[partner]) < maxIssuedRecorded {
		r.issued[partner] = append(r.issued[partner], token)
	}
}

// mintSignal is the channel the next mint closes.
func (r *record) mintSignal() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.minted == nil {
		r.minted = make(chan struct{})
	}
	return r.minted
}

func (r *record) mint() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.minted != nil {
		close(r.minted)
		r.minted = nil
	}
}

// wait holds an answer of partner while a Hold is in force, until it is
// released or the server closes.
func (r *record) wait(partner string, closed <-chan struct{}) {
	r.mu.Lock()
	h := r.holds[partner]
	r.mu.Unlock()
	if h == nil {
		return
	}
	h.arrived <- struct{}{}
	select {
	case <-h.gate:
	case <-closed:
	}
}

// Presented lists what the partner's token requests authenticated with,
// in order.
func (s *Server) Presented(partner string) []Presented {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]Presented(nil), s.rec.presented[partner]...)
}

// Issued lists the tokens the partner issued, in order (the first
// 100,000), whether or not the client read the answer.
func (s *Server) Issued(partner string) []string {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]string(nil), s.rec.issued[partner]...)
}

// AwaitMints waits until the partner has issued at least n tokens since the
// last Reset, or ctx ends.
func (s *Server) AwaitMints(ctx context.Context, partner string, n int) error {
	for {
		signal := s.rec.mintSignal()
		if s.Mints(partner) >= n {
			return nil
		}
		select {
		case <-signal:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Hold makes the partner's answers wait until release is called (or the
// server closes): each request is answered as usual (a token is issued and
// counted) but the answer is not sent before the release, as when the
// partner is slow on the wire. Each held answer sends on arrived, which
// holds up to 1,000 unread. release may be called more than once.
func (s *Server) Hold(partner string) (arrived <-chan struct{}, release func()) {
	h := &held{gate: make(chan struct{}), arrived: make(chan struct{}, 1000)}
	s.rec.mu.Lock()
	if s.rec.holds == nil {
		s.rec.holds = map[string]*held{}
	}
	s.rec.holds[partner] = h
	s.rec.mu.Unlock()
	var once sync.Once
	return h.arrived, func() {
		once.Do(func() {
			s.rec.mu.Lock()
			if s.rec.holds[partner] == h {
				delete(s.rec.holds, partner)
			}
			s.rec.mu.Unlock()
			close(h.gate)
		})
	}
}
