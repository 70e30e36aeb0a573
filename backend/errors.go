package backend

import (
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

// mintError turns a failed mint into what the reader sees: 502 Bad Gateway
// for anything the partner did or failed to do, with the partner's name,
// status and message; never the secret (providers redact it).
func mintError(name string, err error) error {
	if _, ok := provider.AsError(err); ok {
		return logical.CodedError(http.StatusBadGateway, fmt.Sprintf("minting a token for config %q failed: %s", name, err.Error()))
	}
	return fmt.Errorf("minting a token for config %q failed: %w", name, err)
}

// partnerStatus is the partner's HTTP status in err, 0 if none arrived.
func partnerStatus(err error) int {
	if perr, ok := provider.AsError(err); ok {
		return perr.Status
	}
	return 0
}
