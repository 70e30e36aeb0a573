package provider

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBodySize bounds what is read from a partner: a token response is a few
// kilobytes, and a partner (or something in front of it) sending more must
// not exhaust Vault's memory.
const maxBodySize = 1 << 20

// userAgent identifies the engine to partners, as their support teams ask.
const userAgent = "vault-plugin-secrets-partnertoken"

// response is a partner's answer, read completely and bounded in size.
type response struct {
	Status     int
	Header     http.Header
	Body       []byte
	SentAt     time.Time
	ReceivedAt time.Time
}

func (r *response) ok() bool { return r.Status >= 200 && r.Status < 300 }

// post sends one token request. Errors before a complete answer arrived
// (connection, timeout, a body that is too large or never finishes) are
// returned as *Error with Status 0 or the answer's status.
func (r *Request) post(ctx context.Context, header http.Header, body []byte) (*response, error) {
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.TokenURL, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Partner: r.partner, Message: "cannot build the request: " + r.redact(err.Error())}
	}
	for name, values := range header {
		httpReq.Header[name] = values
	}
	httpReq.Header.Set("User-Agent", userAgent)
	if httpReq.Header.Get("Accept") == "" {
		httpReq.Header.Set("Accept", "application/json")
	}

	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	sent := r.now()
	httpResp, err := client.Do(httpReq)
	if problem, ok := tlsProblem(err); ok {
		// The same handshake fails the same way on every attempt.
		return nil, &Error{Partner: r.partner, Message: r.redact(problem)}
	}
	if err != nil {
		return nil, &Error{Partner: r.partner, Message: r.redact(transportMessage(ctx, err)), err: err}
	}
	defer httpResp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(httpResp.Body, maxBodySize+1))
	if err != nil {
		return nil, &Error{Partner: r.partner, Status: 0, Message: "reading the answer: " + r.redact(transportMessage(ctx, err)), err: err}
	}
	if len(data) > maxBodySize {
		return nil, &Error{Partner: r.partner, Status: httpResp.StatusCode, Message: fmt.Sprintf("answer is larger than %d bytes", maxBodySize)}
	}
	r.answer = &response{
		Status:     httpResp.StatusCode,
		Header:     httpResp.Header,
		Body:       data,
		SentAt:     sent,
		ReceivedAt: r.now(),
	}
	return r.answer, nil
}

// send posts a token request and turns an answer outside 2xx into the
// partner's refusal or failure, with the partner's own message.
func (r *Request) send(ctx context.Context, header http.Header, body []byte) (*response, error) {
	resp, err := r.post(ctx, header, body)
	if err != nil {
		return nil, err
	}
	if !resp.ok() {
		return nil, r.failure(resp, r.partnerMessage(resp.Body))
	}
	return resp, nil
}

// tlsProblem says what to fix when the TLS handshake failed for good: the
// endpoint's certificate is not trusted (or not for its host), or the
// endpoint refused the client's certificate, or wanted one.
func tlsProblem(err error) (string, bool) {
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case err == nil:
		return "", false
	case errors.As(err, &verify):
		var host x509.HostnameError
		if errors.As(verify.Err, &host) {
			return "the token endpoint's TLS certificate is not for its host (" + verify.Err.Error() + "): check token_url", true
		}
		return "the token endpoint's TLS certificate is not trusted (" + verify.Err.Error() + "): if the partner uses a private CA, set ca_certificates to it", true
	case errors.As(err, &alert):
		return refusedHandshake(alert.Error()), true
	}
	// An alert the server sends once the TLS 1.3 handshake is over arrives
	// on the first read, where net/http wraps it without %w.
	if _, alertText, found := strings.Cut(err.Error(), "remote error: "); found && strings.HasPrefix(alertText, "tls: ") {
		return refusedHandshake(alertText), true
	}
	return "", false
}

func refusedHandshake(alert string) string {
	return "the token endpoint refused the TLS handshake (" + alert + "): it may want a client certificate (tls_client_certificate) that it trusts"
}

// transportMessage says why no answer arrived, preferring the caller's
// deadline over the transport's wording of it.
func transportMessage(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return "no complete answer before the deadline"
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return "request cancelled"
	}
	return err.Error()
}
