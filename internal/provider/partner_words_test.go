package provider

import (
	"net/http"
	"strings"
	"testing"
)

// TestTheNoTokenErrorShowsThePartnersOwnWords checks that a 2xx answer
// without a usable token reports the status and message fields the
// partner sent with it, for every partner, and still never quotes the
// rest of the body (which may hold a token under another name).
func TestTheNoTokenErrorShowsThePartnersOwnWords(t *testing.T) {
	tests := []struct {
		name     string
		provider Provider
		body     string
		want     []string
	}{
		{
			name:     "DUPR's envelope without a status keeps its message",
			provider: dupr{},
			body:     `{"message":"Partner client is suspended","result":{"token":"leaky-token"}}`,
			want:     []string{"no status", `message="Partner client is suspended"`},
		},
		{
			name:     "DUPR's SUCCESS without a result keeps its message",
			provider: dupr{},
			body:     `{"status":"SUCCESS","message":"No token issued for this key"}`,
			want:     []string{"no result", `status="SUCCESS"`, `message="No token issued for this key"`},
		},
		{
			name:     "DUPR's SUCCESS with an empty token keeps its message",
			provider: dupr{},
			body:     `{"status":"SUCCESS","message":"token withheld","result":{"token":""}}`,
			want:     []string{"no token", `status="SUCCESS"`, `message="token withheld"`},
		},
		{
			name:     "DOKU's failure sent with a 200 keeps its status, message and response code",
			provider: doku{},
			body:     `{"status":"FAILED","response_code":"INVALID_SIGNATURE","message":"Invalid Header Signature"}`,
			want:     []string{"no token", `status="FAILED"`, `message="Invalid Header Signature"`, `response_code="INVALID_SIGNATURE"`},
		},
		{
			name:     "Podero's OAuth2 error sent with a 200 keeps error and error_description",
			provider: podero{},
			body:     `{"error":"invalid_client","error_description":"Client is disabled"}`,
			want:     []string{"no token", `error="invalid_client"`, `error_description="Client is disabled"`},
		},
		{
			name:     "Dinie's problem sent with a 200 keeps its title, detail and code",
			provider: dinie{},
			body:     `{"type":"https://api.dinie.com.br/errors/x","title":"Unauthorized","status":401,"detail":"Client revoked.","code":"invalid_client"}`,
			want:     []string{"no token", `title="Unauthorized"`, `detail="Client revoked."`, `code="invalid_client"`},
		},
		{
			name:     "Setu's wrapper sent with a 200 keeps its status and message",
			provider: setu{},
			body:     `{"status":"FAILURE","message":"Product configuration is not live","refreshToken":"leaky-token"}`,
			want:     []string{"no token", `status="FAILURE"`, `message="Product configuration is not live"`},
		},
		{
			name:     "an OAuth2 answer of the wrong type keeps the partner's message",
			provider: oauth2{},
			body:     `{"access_token":{"v":"leaky-token"},"message":"use the v2 endpoint"}`,
			want:     []string{"wrong type", `message="use the v2 endpoint"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Body: tc.body})
			tok, err := Mint(t.Context(), tc.provider, newRequest(p, "/token", Options{}))
			checkMintFailure(t, tok, err, tc.provider.Spec().DisplayName, http.StatusOK, tc.want, false)
			if strings.Contains(err.Error(), "leaky-token") {
				t.Errorf("error %q quotes a token", err)
			}
		})
	}
}
