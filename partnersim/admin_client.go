package partnersim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// AdminClient calls the admin API (/_sim/...) of a simulator running in
// another process, as the end-to-end tests and the load tool do.
type AdminClient struct {
	URL  string // the simulator's base URL, as its handshake line gives it
	HTTP *http.Client
}

// Call sends body (when not nil) as JSON to /_sim/<path> and decodes the
// answer into out (when not nil). An answer outside 2xx is an error
// holding the simulator's message.
func (c AdminClient) Call(ctx context.Context, method, path string, body, out any) error {
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
