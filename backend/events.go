package backend

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Vault events the engine sends. Vault delivers plugin events to
// subscribers only in Vault Enterprise 1.16 and later; Vault Community (and
// older Enterprise) drops them, so the metrics and log lines carry the same
// facts. Their metadata is the config name and provider only: subscribers
// learn that something happened, never a token or a credential.
const (
	eventTokenMinted        = "partnertoken/token-minted"
	eventRefreshFailed      = "partnertoken/refresh-failed"
	eventCredentialsRefused = "partnertoken/credentials-refused"
)

// sendEvent publishes an event, best effort: a Vault without the events
// system, or a slow one, must not hold up a mint.
func (b *backend) sendEvent(eventType, name, providerName string) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	err := logical.SendEvent(ctx, b, eventType, "config", name, "provider", providerName)
	if err != nil && !errors.Is(err, framework.ErrNoEvents) {
		b.Logger().Debug("sending event failed", "event", eventType, "config", name, "error", err.Error())
	}
}
