package backend

import (
	"sync"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

// mintStatus is what status/<name> reports about a config's mints since
// the plugin started on this node.
type mintStatus struct {
	mu         sync.Mutex
	lastMintAt time.Time
	lastError  *mintFailure
}

type mintFailure struct {
	at      time.Time
	status  int
	message string
}

func (s *mintStatus) record(now time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.lastMintAt = now
		return
	}
	f := &mintFailure{at: now, message: err.Error()}
	if perr, ok := provider.AsError(err); ok {
		f.status = perr.Status
	}
	s.lastError = f
}

func (s *mintStatus) snapshot() (lastMintAt time.Time, lastError *mintFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastMintAt, s.lastError
}

// mintStatuses holds a *mintStatus per config name.
type mintStatuses struct{ m sync.Map }

// of returns the mint status of name, creating it on first use.
func (s *mintStatuses) of(name string) *mintStatus {
	st, _ := s.m.LoadOrStore(name, &mintStatus{})
	return st.(*mintStatus)
}

func (s *mintStatuses) forget(name string) { s.m.Delete(name) }
