package backend

import (
	"sync"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// lastMint is what status/<name> reports about a config's mints since the
// plugin started on this node: when the last one succeeded and how the
// last failure went.
type lastMint struct {
	mu        sync.Mutex
	succeeded time.Time
	failure   *mintFailure
}

type mintFailure struct {
	at      time.Time
	status  int
	message string
}

func (s *lastMint) record(now time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.succeeded = now
		return
	}
	f := &mintFailure{at: now, message: err.Error()}
	if perr, ok := provider.AsError(err); ok {
		f.status = perr.Status
	}
	s.failure = f
}

func (s *lastMint) snapshot() (succeeded time.Time, failure *mintFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.succeeded, s.failure
}

// lastMints holds a *lastMint per config name.
type lastMints struct{ m sync.Map }

// of returns the last mint of name, creating it on first use.
func (s *lastMints) of(name string) *lastMint {
	st, _ := s.m.LoadOrStore(name, &lastMint{})
	return st.(*lastMint)
}

func (s *lastMints) remove(name string) { s.m.Delete(name) }
