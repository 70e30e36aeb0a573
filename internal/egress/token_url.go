package egress

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CheckTokenURL accepts an https URL, or plain http to a loopback host (a
// local test partner), whose host the allowlist allows. Credentials travel
// in every token request, so they must never cross a network in the
// clear. Its errors name token_url and what to fix.
func CheckTokenURL(raw string, allow *Allowlist) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("token_url must be a full URL such as https://partner.example/oauth/token")
	}
	if u.User != nil {
		return errors.New("token_url must not contain user information; set client_id and client_secret instead")
	}
	if u.Fragment != "" {
		return errors.New("token_url must not contain a #fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("token_url must use https: plain http is accepted only for loopback hosts (localhost and names below it, 127.0.0.0/8, ::1)")
		}
	default:
		return fmt.Errorf("token_url must use https, not %q", u.Scheme)
	}
	if err := allow.CheckHost(u.Hostname()); err != nil {
		return fmt.Errorf("token_url refused: %w", err)
	}
	return nil
}
