package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// dokuTimestamp is DOKU's Request-Timestamp layout: ISO-8601 in UTC+0 with
// second precision ("2020-08-11T08:45:42Z"); callers convert to UTC first.
const dokuTimestamp = "2006-01-02T15:04:05Z"

// dokuComponents are the parts of a request DOKU's non-SNAP signature covers,
// each exactly as sent in the matching header.
// https://developers.doku.com/get-started-with-doku-api/signature-component/non-snap/signature-component-from-request-header
type dokuComponents struct {
	ClientID  string
	RequestID string
	Timestamp string
	// Target is the request path, without scheme, host or query.
	Target string
	// Digest is dokuDigest of the body; empty for a request without one
	// (GET), which then has no Digest line at all.
	Digest string
}

// stringToSign joins "Name:value" lines with a single \n in DOKU's order,
// without a trailing newline ("Don't add [\n] at the end of the string").
func (c dokuComponents) stringToSign() string {
	lines := []string{
		"Client-Id:" + c.ClientID,
		"Request-Id:" + c.RequestID,
		"Request-Timestamp:" + c.Timestamp,
		"Request-Target:" + c.Target,
	}
	if c.Digest != "" {
		lines = append(lines, "Digest:"+c.Digest)
	}
	return strings.Join(lines, "\n")
}

// dokuDigest is base64(SHA-256(body)) over the exact bytes sent.
func dokuDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// dokuSignature is the Signature header value: "HMACSHA256=" and the base64
// HMAC-SHA256 of the string to sign, keyed with the secret key's raw bytes
// (DOKU's PHP and Java libraries use the string as is, not decoded).
func dokuSignature(secretKey string, c dokuComponents) string {
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte(c.stringToSign()))
	return "HMACSHA256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
