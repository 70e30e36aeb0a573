package partnersim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mintOAuth2Token sends a valid generic OAuth2 token request.
func mintOAuth2Token(t *testing.T, s *Server) result {
	t.Helper()
	c := demo(OAuth2)
	return post(t, s.TokenURL(OAuth2), map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}, "grant_type=client_credentials")
}

func TestFaultsReplaceTheAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		partner string
		fault   Fault
		status  int
		check   func(t *testing.T, res result)
	}{
		{"a custom status and body are sent verbatim", OAuth2,
			Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"}, 502,
			func(t *testing.T, res result) {
				if string(res.body) != "<html>bad gateway</html>" || res.header.Get("Content-Type") != "text/html" {
					t.Errorf("got %q %q", res.header.Get("Content-Type"), res.body)
				}
			}},
		{"a bare status gets the partner's own error shape", DOKU, Fault{Status: 503}, 503,
			func(t *testing.T, res result) {
				res.expect(t, 503, map[string]any{"status": "FAILED", "response_code": "MAINTENANCE_MODE"})
			}},
		{"a Dinie 429 carries the injected reset and Retry-After", Dinie,
			Fault{Status: 429, RetryAfter: "7", RateLimitReset: epoch.Add(90 * time.Second)}, 429,
			func(t *testing.T, res result) {
				res.expect(t, 429, map[string]any{"code": "rate_limit_exceeded", "status": 429})
				checkRateLimitHeaders(t, res, DefaultDinieRateLimit, 0, epoch.Add(90*time.Second))
				if res.header.Get("Retry-After") != "7" {
					t.Errorf("Retry-After = %q", res.header.Get("Retry-After"))
				}
			}},
		{"a raw Retry-After is not validated", Podero, Fault{Status: 503, RetryAfter: "soon"}, 503,
			func(t *testing.T, res result) {
				if res.header.Get("Retry-After") != "soon" {
					t.Errorf("Retry-After = %q", res.header.Get("Retry-After"))
				}
			}},
		{"a malformed answer is truncated JSON with 200", OAuth2, Fault{Malformed: true}, 200,
			func(t *testing.T, res result) {
				if json.Valid(res.body) || res.header.Get("Content-Type") != "application/json" {
					t.Errorf("got %q %s", res.header.Get("Content-Type"), res.body)
				}
			}},
		{"an oversize answer is valid JSON over 1 MiB", OAuth2, Fault{Oversize: true}, 200,
			func(t *testing.T, res result) {
				if len(res.body) <= 1<<20 || !json.Valid(res.body) {
					t.Errorf("got %d bytes, valid=%v", len(res.body), json.Valid(res.body))
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := start(t, Options{})
			if err := s.Inject(tc.partner, tc.fault); err != nil {
				t.Fatal(err)
			}
			res := post(t, s.TokenURL(tc.partner), nil, "")
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			tc.check(t, res)
			counters(t, s, tc.partner, Stats{Requests: 1, Faults: 1})
		})
	}
}

func TestFaultsQueueInOrderAndCountTimes(t *testing.T) {
	s, _ := start(t, Options{})
	for _, f := range []Fault{{Status: 503, Times: 2}, {Status: 500}} {
		if err := s.Inject(OAuth2, f); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []int{503, 503, 500, 200, 200} {
		if res := mintOAuth2Token(t, s); res.status != want {
			t.Errorf("request %d: status %d, want %d", i+1, res.status, want)
		}
	}
	counters(t, s, OAuth2, Stats{Requests: 5, Mints: 2, Faults: 3})
}

func TestAnOutageAnswersEveryRequestUntilCleared(t *testing.T) {
	s, _ := start(t, Options{})
	if err := s.Inject(OAuth2, Fault{Status: 503, Times: UntilCleared}); err != nil {
		t.Fatal(err)
	}
	// A fault queued behind an outage waits until the outage is cleared,
	// and is dropped with it.
	_ = s.Inject(OAuth2, Fault{Status: 500})
	for i := range 50 {
		if res := mintOAuth2Token(t, s); res.status != 503 {
			t.Fatalf("request %d during the outage: status %d, want 503", i+1, res.status)
		}
	}
	if err := s.ClearFaults(OAuth2); err != nil {
		t.Fatal(err)
	}
	mintOAuth2Token(t, s).expect(t, http.StatusOK, nil)
	counters(t, s, OAuth2, Stats{Requests: 51, Mints: 1, Faults: 50})
	if err := s.ClearFaults("acme"); err == nil {
		t.Error("clearing the faults of an unknown partner succeeded")
	}
}

func TestResetDropsFaultsAndCounters(t *testing.T) {
	s, _ := start(t, Options{})
	_ = s.Inject(OAuth2, Fault{Status: 500, Times: 10})
	mintOAuth2Token(t, s)
	s.Reset()
	counters(t, s, OAuth2, Stats{})
	mintOAuth2Token(t, s).expect(t, http.StatusOK, nil)
}

func TestDelayPostponesTheRealAnswer(t *testing.T) {
	s, _ := start(t, Options{})
	_ = s.Inject(OAuth2, Fault{Delay: 30 * time.Millisecond})
	begin := time.Now()
	mintOAuth2Token(t, s).expect(t, http.StatusOK, nil)
	if elapsed := time.Since(begin); elapsed < 30*time.Millisecond {
		t.Errorf("answered after %v, want at least the 30ms delay", elapsed)
	}
	counters(t, s, OAuth2, Stats{Requests: 1, Mints: 1})
}

func TestOversizeHeaderPadsTheRealAnswer(t *testing.T) {
	s, _ := start(t, Options{})
	_ = s.Inject(OAuth2, Fault{OversizeHeader: true})
	c := demo(OAuth2)
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(OAuth2), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := len(resp.Header.Get("X-Partnersim-Padding")); resp.StatusCode != http.StatusOK || n != oversizeHeader {
		t.Fatalf("status %d with a %d-byte padding header, want 200 with %d bytes", resp.StatusCode, n, oversizeHeader)
	}
	counters(t, s, OAuth2, Stats{Requests: 1, Mints: 1})
}

func TestDelayStopsWhenTheClientGivesUp(t *testing.T) {
	s, _ := start(t, Options{})
	_ = s.Inject(OAuth2, Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := demo(OAuth2)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL(OAuth2), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(c.ID, c.Secret)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	// The handler notices the cancellation and counts the fault; no token.
	waitFor(t, func() bool { return s.Faults(OAuth2) == 1 })
	counters(t, s, OAuth2, Stats{Requests: 1, Faults: 1})
}

func TestTrickleSendsTheRealAnswerByteByByte(t *testing.T) {
	s, _ := start(t, Options{})
	_ = s.Inject(Podero, Fault{Trickle: true, TrickleInterval: time.Millisecond})
	c := demo(Podero)
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(Podero), strings.NewReader(poderoBody))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Headers come at once; the body in many small reads.
	reads, total := 0, 0
	buf := make([]byte, 512)
	var body []byte
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			reads++
			total += n
			body = append(body, buf[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !json.Valid(body) || reads < total/4 {
		t.Errorf("%d bytes in %d reads, valid=%v: not trickled", total, reads, json.Valid(body))
	}
	if want := resp.Header.Get("Content-Length"); want != strconv.Itoa(total) {
		t.Errorf("Content-Length %s, got %d bytes", want, total)
	}
	counters(t, s, Podero, Stats{Requests: 1, Mints: 1})
}

func TestTrickleOutlastsAClientTimeout(t *testing.T) {
	s, _ := start(t, Options{})
	_ = s.Inject(DUPR, Fault{Status: 200, Body: `{"status":"SUCCESS","result":{"token":"x"}}`, Trickle: true})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(DUPR), nil)
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the trickled body arrived within 100ms at the default pace")
	}
	waitFor(t, func() bool { return s.Faults(DUPR) == 1 })
}

func TestInjectRefusesNonsense(t *testing.T) {
	s := New(Options{})
	for name, f := range map[string]Fault{
		"a 1xx status":        {Status: 101},
		"a negative delay":    {Delay: -time.Second},
		"times below -1":      {Times: UntilCleared - 1},
		"a header injection":  {RetryAfter: "1\r\nX-Evil: 1"},
		"a negative interval": {TrickleInterval: -1},
	} {
		if err := s.Inject(OAuth2, f); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
	if err := s.Inject("acme", Fault{Status: 500}); err == nil {
		t.Error("an unknown partner was accepted")
	}
}

// waitFor polls a condition the server reaches asynchronously.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
