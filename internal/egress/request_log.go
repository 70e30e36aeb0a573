package egress

import (
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
)

// requestLog logs the shape of every partner request at debug level:
// method, URL without query, header names (never values: they carry the
// credentials), body size, status and duration. Enough to compare with a
// partner's documentation, nothing an attacker could use.
type requestLog struct {
	next   http.RoundTripper
	logger hclog.Logger
}

func (t requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.logger.IsDebug() {
		return t.next.RoundTrip(req)
	}
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	args := []any{
		"method", req.Method, "url", req.URL.Scheme + "://" + req.URL.Host + req.URL.Path,
		"headers", names, "body_bytes", req.ContentLength, "duration", time.Since(start).String(),
	}
	if err != nil {
		t.logger.Debug("partner request failed", append(args, "error", err.Error())...)
		return nil, err
	}
	t.logger.Debug("partner request", append(args, "status", resp.StatusCode, "content_type", resp.Header.Get("Content-Type"))...)
	return resp, nil
}

// CloseIdleConnections passes http.Client.CloseIdleConnections through, so
// cleanup can close the pooled connections to partners.
func (t requestLog) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
