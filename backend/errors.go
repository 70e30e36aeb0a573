package backend

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// The errors the engine answers requests with, and the status each
// becomes: a partner's failure is a 502 that names it, an operator's
// mistake a 400 that says what to fix.

var (
	// errNoConfig is returned for a name nobody configured.
	errNoConfig = errors.New("no such config")
	// errConfigChanged is returned by a mint whose config was rewritten
	// while the partner was answering; its token is thrown away.
	errConfigChanged = errors.New("config changed during the mint")
	// errConfigDeleted is the errConfigChanged of a config deleted while
	// the partner was answering: nothing of the mint is recorded.
	errConfigDeleted = fmt.Errorf("config deleted during the mint: %w", errConfigChanged)
	// errStopping is returned by a mint asked for while the mount shuts down.
	errStopping = errors.New("the mount is shutting down")
	// errLeaseEnding refuses the renewal of a lease with less than minLease
	// left: its holder must read token/<name> again for the next token.
	errLeaseEnding = errors.New("the lease is about to end")
	// errHandOver answers a request a standby leaves to the active node:
	// Vault and OpenBao forward a request answered with the read-only
	// storage error, as they do a write made on a standby (OpenBao's
	// logical.ShouldForward).
	errHandOver = logical.ErrReadOnly
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

// invalidWrite is a config write the merge refused: the operator's mistake,
// answered with a 400 that says what to fix.
type invalidWrite struct{ err error }

func (w invalidWrite) Error() string { return w.err.Error() }

// writeRefusal answers a failed config write: 400 for the operator's
// mistake, the error itself otherwise.
func writeRefusal(err error) (*logical.Response, error) {
	var invalid invalidWrite
	if errors.As(err, &invalid) {
		return logical.ErrorResponse("%s", invalid.Error()), nil
	}
	return nil, err
}

// noSuchConfig is the answer for a name nobody configured.
func noSuchConfig(mount, name string) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf("no config named %q: write %sconfig/%s first", name, mount, name))
}
