// Package simadmin calls the admin API (/_sim/...) of a partner simulator
// (internal/cmd/partnersim of the engine's module) running in another
// process. It lives in the tests module because the end-to-end suite and
// the load tool are its only users. It speaks in the simulator's own types:
// Go allows an import of an internal/ package from any package whose import
// path lies under the internal directory's parent, whatever its module,
// and this module's path lies under the engine's.
package simadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// Client calls the admin API of a simulator running in another process.
type Client struct {
	URL  string // the simulator's base URL, as its handshake line gives it
	HTTP *http.Client
}

// Stats are the simulator's counters, per partner.
func (c Client) Stats(ctx context.Context) (map[string]partnersim.Stats, error) {
	var stats map[string]partnersim.Stats
	if err := c.Call(ctx, http.MethodGet, "stats", nil, &stats); err != nil {
		return nil, err
	}
	return stats, nil
}

// Call sends body (when not nil) as JSON to /_sim/<path> and decodes the
// answer into out (when not nil). An answer outside 2xx is an error
// holding the simulator's message.
func (c Client) Call(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+"/_sim/"+path, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("simulator %s /_sim/%s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// StartOutage makes partner answer every token request with status (a 5xx)
// until ClearFaults: the simulator's outage mode.
func (c Client) StartOutage(ctx context.Context, partner string, status int) error {
	return c.Call(ctx, http.MethodPost, "faults/"+partner, map[string]any{"status": status, "times": -1}, nil)
}

// ClearFaults drops partner's queued faults, an outage included: it
// answers by its own rules again.
func (c Client) ClearFaults(ctx context.Context, partner string) error {
	return c.Call(ctx, http.MethodDelete, "faults/"+partner, nil, nil)
}
