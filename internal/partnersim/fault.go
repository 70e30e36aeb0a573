package partnersim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultTrickleInterval is the pause between two trickled bytes: a token
// answer of a few hundred bytes then takes over a minute, longer than any
// sane client timeout.
const DefaultTrickleInterval = 200 * time.Millisecond

// oversizeBody is how large an Oversize answer is: over the 1 MiB a client
// should be willing to read from a token endpoint.
const oversizeBody = 1<<20 + 1024

// oversizeHeader is how large the header an OversizeHeader fault adds is:
// far over the few kilobytes of headers a token answer has, and under the
// 10 MiB Go's HTTP client reads by default.
const oversizeHeader = 128 << 10

// Fault is a misbehaviour injected into a partner's next answers.
//
// A fault that sets Status, Body, Oversize or Malformed replaces the
// partner's answer; one that sets only Delay, Trickle, RetryAfter,
// RateLimitReset or OversizeHeader alters the partner's real answer (a token may then be
// minted that the client never reads, as at a real partner).
type Fault struct {
	// Status is the answer's status; default 200 when a body is forced.
	// Without Body, a status of 400 or more gets the partner's own error
	// body for that status (e.g. Dinie's 429 rate_limit_exceeded problem).
	Status int
	// Body and ContentType are a custom answer (ContentType defaults to
	// application/json).
	Body        string
	ContentType string
	// RetryAfter is sent verbatim as the Retry-After header (RFC 9110
	// §10.2.3: seconds or an HTTP date; anything else tests the parser).
	RetryAfter string
	// RateLimitReset sets Dinie's X-RateLimit-Reset (and Remaining to 0).
	RateLimitReset time.Time
	// Delay is waited before answering; a cancelled request stops it.
	Delay time.Duration
	// Trickle sends the answer one byte per TrickleInterval (default
	// DefaultTrickleInterval), headers first.
	Trickle         bool
	TrickleInterval time.Duration
	// Oversize answers with a valid JSON body larger than 1 MiB.
	Oversize bool
	// Malformed answers with truncated JSON.
	Malformed bool
	// OversizeHeader adds a 128 KiB header to the answer.
	OversizeHeader bool
	// Times is how many requests the fault applies to; 0 means once, and
	// UntilCleared every request until ClearFaults.
	Times int
}

// UntilCleared, as a Fault's Times, applies the fault to every request
// until the partner's faults are cleared: a partner that is down (a 503 to
// everything, or a Delay longer than any client waits) for as long as a
// test says, however many requests it sends meanwhile.
const UntilCleared = -1

// Inject queues f for partner's next requests, after the faults already
// queued.
func (s *Server) Inject(partner string, f Fault) error {
	if partners[partner] == nil {
		return unknownPartner(partner)
	}
	if err := f.validate(); err != nil {
		return err
	}
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[partner] = append(s.faults[partner], &f)
	return nil
}

// ClearFaults drops every fault queued for partner, an UntilCleared one
// included: the partner answers by its own rules again.
func (s *Server) ClearFaults(partner string) error {
	if partners[partner] == nil {
		return unknownPartner(partner)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, partner)
	return nil
}

func (f Fault) validate() error {
	var errs []error
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		errs = append(errs, fmt.Errorf("status %d: must be between 200 and 599", f.Status))
	}
	if f.Delay < 0 || f.TrickleInterval < 0 {
		errs = append(errs, errors.New("delay and trickle_interval must not be negative"))
	}
	if f.Times < UntilCleared {
		errs = append(errs, fmt.Errorf("times %d: want a count, 0 for once or %d for every request until the faults are cleared", f.Times, UntilCleared))
	}
	if strings.ContainsAny(f.RetryAfter+f.ContentType, "\r\n") {
		errs = append(errs, errors.New("header values must not contain line breaks"))
	}
	return errors.Join(errs...)
}

// nextFault takes one use of partner's first queued fault. s.mu is held.
func (s *Server) nextFault(partner string) *Fault {
	q := s.faults[partner]
	if len(q) == 0 {
		return nil
	}
	f := *q[0]
	if f.Times == UntilCleared {
		return &f
	}
	q[0].Times--
	if q[0].Times <= 0 {
		s.faults[partner] = q[1:]
	}
	return &f
}

// answers reports whether the fault replaces the partner's answer.
func (f *Fault) answers() bool {
	return f.Status != 0 || f.Body != "" || f.Oversize || f.Malformed
}

// reply builds the answer of a fault that replaces the partner's.
func (f *Fault) reply(p *partner) *reply {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	var rep *reply
	switch {
	case f.Body != "":
		rep = &reply{status: status, body: []byte(f.Body)}
	case f.Malformed:
		rep = &reply{status: status, body: []byte(`{"access_token":"partnersim-malformed","expires_in":36`)}
	case f.Oversize:
		const head, tail = `{"access_token":"partnersim-oversize","expires_in":3600,"padding":"`, `"}`
		body := make([]byte, 0, oversizeBody)
		body = append(body, head...)
		for len(body) < oversizeBody-len(tail) {
			body = append(body, 'x')
		}
		rep = &reply{status: status, body: append(body, tail...)}
	case status >= 400:
		rep = p.fail(status, p.code(status), "injected fault")
	default:
		rep = &reply{status: status, body: []byte{}}
	}
	if rep.header == nil {
		rep.header = http.Header{}
	}
	if f.Body != "" || f.Malformed || f.Oversize {
		ct := f.ContentType
		if ct == "" {
			ct = "application/json"
		}
		rep.header.Set("Content-Type", ct)
	} else if f.ContentType != "" {
		rep.header.Set("Content-Type", f.ContentType)
	}
	rep.fault = true
	rep.minted = false
	rep.reason = "injected fault"
	return rep
}
