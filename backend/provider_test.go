package backend

import (
	"context"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

// otherProvider is a second provider kind for tests about fields that
// belong to one provider and not another.
type otherProvider struct{}

func (otherProvider) Spec() provider.Spec { return provider.Spec{Name: "other", DisplayName: "Other"} }

func (otherProvider) Mint(context.Context, *provider.Request) (*provider.Token, error) {
	return nil, &provider.Error{Partner: "Other", Message: "not a real partner"}
}
