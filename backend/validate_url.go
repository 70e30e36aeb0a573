package backend

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// validateTokenURL accepts an https URL, or plain http to a loopback host
// (a local test partner), whose host the mount's allowed_token_url_hosts
// allows. Credentials travel in every token request, so they must never
// cross a network in the clear.
func validateTokenURL(raw string, hosts *allowedHosts) error {
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
		if !isLoopback(u.Hostname()) {
			return errors.New("token_url must use https: plain http is accepted only for loopback hosts (localhost, 127.0.0.1, ::1)")
		}
	default:
		return fmt.Errorf("token_url must use https, not %q", u.Scheme)
	}
	if err := hosts.checkHost(u.Hostname()); err != nil {
		return fmt.Errorf("token_url refused: %w", err)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
