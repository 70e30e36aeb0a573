package egress

import (
	"strings"
	"testing"
)

// TestTokenURLsFollowOneLoopbackRule: plain http is accepted for exactly
// the hosts the address rules treat as loopback (isLoopbackHost), and
// those still need an entry that allows loopback.
func TestTokenURLsFollowOneLoopbackRule(t *testing.T) {
	loopback, err := ParseAllowlist([]string{"127.0.0.0/8", "::1", "localhost", "*.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := ParseAllowlist(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		url   string
		allow *Allowlist
		want  string // substring of the refusal; "" when accepted
	}{
		{"http://localhost:8200/token", loopback, ""},
		{"http://LOCALHOST./token", loopback, ""},
		{"http://auth.localhost/token", loopback, ""},
		{"http://127.0.0.1/token", loopback, ""},
		{"http://127.1.2.3/token", loopback, ""},
		{"http://[::1]/token", loopback, ""},
		{"http://[::ffff:127.0.0.1]/token", loopback, ""},
		{"https://localhost/token", loopback, ""},
		{"http://partner.example/token", loopback, "must use https"},
		{"http://localhost.example/token", loopback, "must use https"},
		{"http://10.0.0.1/token", loopback, "must use https"},
		{"http://auth.localhost/token", empty, "is a loopback host"},
		{"http://127.0.0.1/token", empty, "is a loopback address"},
		{"ftp://partner.example/token", empty, `must use https, not "ftp"`},
		{"https://user:pw@partner.example/token", empty, "must not contain user information"},
		{"https://partner.example/token#frag", empty, "must not contain a #fragment"},
		{"partner.example/token", empty, "must be a full URL"},
	} {
		err := CheckTokenURL(tt.url, tt.allow)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: want accepted, got %v", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "token_url")):
			t.Errorf("%s: want a refusal naming token_url and %q, got %v", tt.url, tt.want, err)
		}
	}
}
