package e2e

// TEMPORARY stand-in for the partner simulator (../partnersim), which is
// being written; it speaks only the generic OAuth2 client credentials grant.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// partners are the simulated partners, each configured under its own name.
var partners = []string{"oauth2"}

type simClient struct{ ID, Secret string }

type simulator struct {
	srv       *httptest.Server
	clients   map[string]simClient
	lifetimes map[string]time.Duration

	mu     sync.Mutex
	minted map[string]int
	tokens map[string]time.Time // token -> expiry
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func startSimulator(lifetimes map[string]time.Duration) (*simulator, error) {
	s := &simulator{
		clients:   map[string]simClient{},
		lifetimes: lifetimes,
		minted:    map[string]int{},
		tokens:    map[string]time.Time{},
	}
	for _, p := range partners {
		s.clients[p] = simClient{ID: p + "-" + randomString(4), Secret: "s3cr3t-" + randomString(12)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if c := s.clients["oauth2"]; !ok || id != c.ID || secret != c.Secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		life := time.Hour
		if l, ok := s.lifetimes["oauth2"]; ok {
			life = l
		}
		tok := "at-" + randomString(16)
		s.mu.Lock()
		s.minted["oauth2"]++
		s.tokens[tok] = time.Now().Add(life)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(life.Seconds())})
	})
	s.srv = httptest.NewServer(mux)
	return s, nil
}

func (s *simulator) Close() { s.srv.Close() }

func (s *simulator) tokenURL(partner string) string { return s.srv.URL + "/" + partner + "/token" }

func (s *simulator) client(partner string) simClient { return s.clients[partner] }

func (s *simulator) mints(partner string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minted[partner]
}

func (s *simulator) active(partner, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[token]
	return ok && time.Now().Before(exp)
}

func (s *simulator) secrets() []simClient {
	var out []simClient
	for _, c := range s.clients {
		out = append(out, c)
	}
	return out
}
