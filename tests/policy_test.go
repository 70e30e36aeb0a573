package e2e

import (
	"context"
	"net/http"
	"testing"
)

// TestPolicyLimitsReaders gives a team read on one partner's token and
// nothing else: it reads that token, and is refused every other token and
// everything under config/.
func TestPolicyLimitsReaders(t *testing.T) {
	ctx := ctxFor(t)
	const own, other = "dupr", "setu"
	if _, err := shared.root.write(ctx, "sys/policies/acl/team-"+own, map[string]any{
		"policy": `path "` + mount + `/token/` + own + `" { capabilities = ["read"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	team, err := shared.root.childToken(ctx, "team-"+own)
	if err != nil {
		t.Fatal(err)
	}

	l, err := readToken(ctx, team, mount, own)
	if err != nil {
		t.Fatalf("the team cannot read its own token: %v", err)
	}
	checkLease(t, shared.sim, own, mount, own, l)

	for _, tc := range []struct {
		what string
		do   func(context.Context) (*vaultResponse, error)
	}{
		{"read another partner's token", func(ctx context.Context) (*vaultResponse, error) { return team.read(ctx, mount+"/token/"+other) }},
		{"list config/", func(ctx context.Context) (*vaultResponse, error) { return team.list(ctx, mount+"/config/") }},
		{"read its own config", func(ctx context.Context) (*vaultResponse, error) { return team.read(ctx, mount+"/config/"+own) }},
		{"rewrite its own config", func(ctx context.Context) (*vaultResponse, error) {
			return team.write(ctx, mount+"/config/"+own, map[string]any{"client_id": "x"})
		}},
		{"force a refresh", func(ctx context.Context) (*vaultResponse, error) { return team.write(ctx, mount+"/refresh/"+own, nil) }},
	} {
		if _, err := tc.do(ctx); statusOf(err) != http.StatusForbidden {
			t.Errorf("the team may %s: got %v, want HTTP 403", tc.what, err)
		}
	}
}
