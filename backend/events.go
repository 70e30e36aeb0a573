package backend

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Vault events the engine sends. Vault delivers plugin events to
// subscribers only in Vault Enterprise 1.16 and later; Vault Community (and
// older Enterprise) drops them, and OpenBao has no events system (see
// sendEvent), so the metrics and log lines carry the same facts. Their metadata is the config name and provider only: subscribers
// learn that something happened, never a token or a credential.
const (
	eventTokenMinted        = "partnertoken/token-minted"
	eventRefreshFailed      = "partnertoken/refresh-failed"
	eventCredentialsRefused = "partnertoken/credentials-refused"
)

// sendEvent publishes an event, best effort: a server without the events
// system, or a slow one, must not hold up a mint. OpenBao has none and
// answers every event with gRPC's Unimplemented; that answer is remembered
// for the life of the mount, so mints stop paying a round trip for it.
func (b *backend) sendEvent(eventType, name, providerName string) {
	if b.noEvents.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	err := logical.SendEvent(ctx, b, eventType, "config", name, "provider", providerName)
	switch {
	case err == nil || errors.Is(err, framework.ErrNoEvents):
	case status.Code(err) == codes.Unimplemented:
		if !b.noEvents.Swap(true) {
			b.Logger().Info("the server has no events system: the engine sends no events on this mount", "error", err.Error())
		}
	default:
		b.Logger().Debug("sending event failed", "event", eventType, "config", name, "error", err.Error())
	}
}
