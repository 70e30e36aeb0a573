package provider

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTLSFailuresAreNotRetried: a handshake that fails on trust fails the
// same way every time. The error says what to set and is not transient,
// so the engine does not spend its timeout retrying it.
func TestTLSFailuresAreNotRetried(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","expires_in":60}`))
	})
	untrusted := httptest.NewTLSServer(handler)
	t.Cleanup(untrusted.Close)
	wantsCert := httptest.NewUnstartedServer(handler)
	wantsCert.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	wantsCert.StartTLS()
	t.Cleanup(wantsCert.Close)

	for _, tc := range []struct {
		name   string
		url    string
		client *http.Client
		want   string
	}{
		{"a certificate from an unknown CA", untrusted.URL, &http.Client{}, "is not trusted (x509: certificate signed by unknown authority): if the partner uses a private CA, set ca_certificates"},
		{"a certificate for another host", strings.Replace(untrusted.URL, "127.0.0.1", "localhost", 1), untrusted.Client(), "is not for its host (x509: certificate is valid for example.com, *.example.com, not localhost): check token_url"},
		{"a server that wants a client certificate", wantsCert.URL, wantsCert.Client(), "refused the TLS handshake (tls: certificate required): it may want a client certificate (tls_client_certificate)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &Request{TokenURL: tc.url + "/token", ClientID: testClientID, ClientSecret: testSecret, Client: tc.client}
			_, err := Mint(t.Context(), oauth2{}, req)
			perr, ok := AsError(err)
			if !ok || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if perr.Transient() {
				t.Error("the failure is transient: it would be retried until the timeout")
			}
		})
	}
}
