package partnersim

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestRecordKeepsPresentedCredentialsAndIssuedTokensInOrder(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(OAuth2)
	form := map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, "a-wrong-secret")}
	post(t, s.TokenURL(OAuth2), form, "grant_type=client_credentials").expect(t, http.StatusUnauthorized, nil)
	form["Authorization"] = basic(c.ID, c.Secret)
	first := post(t, s.TokenURL(OAuth2), form, "grant_type=client_credentials").expect(t, http.StatusOK, nil)["access_token"]
	second := post(t, s.TokenURL(OAuth2), form, "grant_type=client_credentials").expect(t, http.StatusOK, nil)["access_token"]

	var secrets []string
	for _, p := range s.Presented(OAuth2) {
		if p.ClientID != c.ID || p.At.IsZero() {
			t.Errorf("presented %+v", p)
		}
		secrets = append(secrets, p.Secret)
	}
	if want := []string{"a-wrong-secret", c.Secret, c.Secret}; !slices.Equal(secrets, want) {
		t.Errorf("presented secrets %q, want %q", secrets, want)
	}
	if got := s.Issued(OAuth2); len(got) != 2 || got[0] != first || got[1] != second {
		t.Errorf("issued %q, want %q then %q", got, first, second)
	}
	if len(s.Presented(Dinie)) != 0 || len(s.Issued(Dinie)) != 0 {
		t.Error("another partner recorded requests it never had")
	}
	s.Reset()
	if len(s.Presented(OAuth2)) != 0 || len(s.Issued(OAuth2)) != 2 {
		t.Error("Reset must forget presented credentials and keep issued tokens")
	}
}

func TestHoldKeepsAnswersUntilReleased(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(OAuth2)
	header := map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}
	arrived, release := s.Hold(OAuth2)
	defer release()
	answered := make(chan result, 1)
	go func() {
		res, _ := trySend(http.MethodPost, s.TokenURL(OAuth2), header, "grant_type=client_credentials")
		answered <- res
	}()
	<-arrived
	select {
	case <-answered:
		t.Fatal("a held request was answered before the release")
	case <-time.After(50 * time.Millisecond): // no answer meanwhile; a longer wait proves no more
	}
	if s.Mints(OAuth2) != 1 {
		t.Fatal("a held answer was not decided (and its token issued) before the release")
	}
	release()
	if res := <-answered; res.status != http.StatusOK {
		t.Fatalf("released request: %d %s", res.status, res.body)
	}
	// Released for good: the next request is not held.
	post(t, s.TokenURL(OAuth2), header, "grant_type=client_credentials").expect(t, http.StatusOK, nil)
}

func TestAwaitMintsWaitsForTheNthToken(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(OAuth2)
	header := map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}
	done := make(chan error, 1)
	go func() { done <- s.AwaitMints(t.Context(), OAuth2, 2) }()
	post(t, s.TokenURL(OAuth2), header, "grant_type=client_credentials").expect(t, http.StatusOK, nil)
	post(t, s.TokenURL(OAuth2), header, "grant_type=client_credentials").expect(t, http.StatusOK, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.AwaitMints(ctx, OAuth2, 3); err == nil {
		t.Fatal("AwaitMints returned without the third mint")
	}
}
