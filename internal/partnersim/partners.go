package partnersim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// partner is one simulated token endpoint: where it lives, how it mints,
// and how it words its refusals.
type partner struct {
	name string
	// paths are the token paths below "/<name>"; the first is the
	// documented one TokenURL returns. Read them through Server.paths:
	// Dinie's depends on the server's options.
	paths []string
	mint  func(s *Server, r *http.Request, body []byte) *reply
	// fail builds the partner's error answer; code is its error code, if
	// its error shape has one.
	fail func(status int, code, detail string) *reply
	// code is the partner's error code for a status (used for 404, 405, 413
	// and injected faults).
	code func(status int) string
	// notFound and notAllowed answer a wrong path or method.
	notFound   func() *reply
	notAllowed func(method string) *reply
}

var partners = map[string]*partner{
	DUPR: {
		name: DUPR,
		// The version is a path parameter (swagger loginUsingPOST); v1.0 is
		// the documented default and third-party clients also use v3.
		paths: []string{"/api/auth/v1.0/token", "/api/auth/v3/token"},
		mint:  (*Server).mintDUPR,
		fail:  duprFail,
		code:  func(int) string { return "" },
		// A POST to a wrong path on uat.mydupr.com was reported to answer 403
		// with this message (docs/partners.md#dupr): the gateway, not a 404.
		notFound: func() *reply {
			return duprFail(http.StatusForbidden, "", "Authentication error. Please provide a valid API key.")
		},
		// Spring's wording for an unsupported method.
		notAllowed: func(m string) *reply {
			return duprFail(http.StatusMethodNotAllowed, "", "Request method '"+m+"' is not supported")
		},
	},
	Setu: {
		name:  Setu,
		paths: []string{"/auth/token"},
		mint:  (*Server).mintSetu,
		fail:  oauthFail,
		code:  oauthCode,
		notFound: func() *reply {
			return oauthFail(http.StatusNotFound, "not_found", "Unknown path")
		},
		notAllowed: func(m string) *reply {
			return oauthFail(http.StatusMethodNotAllowed, "invalid_request", "HTTP method "+m+" not allowed")
		},
	},
	Podero: {
		name: Podero,
		// The trailing slash is part of the documented URL; Django matches
		// the URL pattern exactly.
		paths: []string{"/oauth2/token/"},
		mint:  (*Server).mintPodero,
		fail:  poderoFail,
		code:  oauthCode,
		// Django's default 404 page with DEBUG off.
		notFound: func() *reply {
			return &reply{
				status: http.StatusNotFound,
				header: http.Header{"Content-Type": {"text/html; charset=utf-8"}},
				body: []byte("\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n" +
					"  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"),
			}
		},
		// django-oauth-toolkit's TokenView only defines post; Django's View
		// answers other methods with an empty HttpResponseNotAllowed.
		notAllowed: func(string) *reply {
			return &reply{status: http.StatusMethodNotAllowed, header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, body: []byte{}}
		},
	},
	DOKU: {
		name:  DOKU,
		paths: []string{"/adv-core-api/partner/v1.0/token"},
		mint:  (*Server).mintDOKU,
		fail:  dokuFail,
		code:  dokuCode,
		notFound: func() *reply {
			return dokuFail(http.StatusNotFound, "NOT_FOUND", "Resource does not exist")
		},
		notAllowed: func(m string) *reply {
			return dokuFail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method "+m+" is not allowed")
		},
	},
	Dinie: {
		name: Dinie,
		// No fixed path: Server.paths gives /auth/token under the one of
		// Dinie's two documented bases that Options.DinieBase names.
		mint: (*Server).mintDinie,
		fail: dinieFail,
		code: dinieCode,
		notFound: func() *reply {
			return dinieFail(http.StatusNotFound, "not_found", "The requested resource does not exist.")
		},
		notAllowed: func(m string) *reply {
			return dinieFail(http.StatusMethodNotAllowed, "method_not_allowed", "Method "+m+" is not allowed on this resource.")
		},
	},
	OAuth2: {
		name:  OAuth2,
		paths: []string{"/token"},
		mint:  (*Server).mintOAuth2,
		fail:  oauthFail,
		code:  oauthCode,
		notFound: func() *reply {
			return oauthFail(http.StatusNotFound, "invalid_request", "Unknown path")
		},
		// RFC 6749 §3.2: "The client MUST use the HTTP "POST" method".
		notAllowed: func(m string) *reply {
			return oauthFail(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint only accepts POST, not "+m)
		},
	},
}

// jsonReply encodes v as the body of a reply.
func jsonReply(status int, contentType string, v any) *reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return &reply{status: status, header: http.Header{"Content-Type": {contentType}}, body: b}
}

// tokenReply is a successful token answer. RFC 6749 §5.1: token responses
// carry Cache-Control: no-store and Pragma: no-cache.
func tokenReply(v any) *reply {
	rep := jsonReply(http.StatusOK, "application/json", v)
	rep.header.Set("Cache-Control", "no-store")
	rep.header.Set("Pragma", "no-cache")
	rep.minted = true
	return rep
}

// duprFail is DUPR's wrapper with a status other than SUCCESS (swagger
// SingleWrapperOfTokenResponse: {message, result, status}).
func duprFail(status int, _ string, message string) *reply {
	rep := jsonReply(status, "application/json", map[string]string{"status": "FAILURE", "message": message})
	rep.reason = message
	return rep
}

// oauthFail is the RFC 6749 §5.2 error answer, also Keycloak's (behind Setu).
func oauthFail(status int, code, description string) *reply {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	rep := jsonReply(status, "application/json", body)
	rep.header.Set("Cache-Control", "no-store")
	rep.header.Set("Pragma", "no-cache")
	rep.reason = code + ": " + description
	return rep
}

// oauthCode maps a status to the closest RFC 6749 §5.2 / §4.1.2.1 code.
func oauthCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusForbidden:
		return "access_denied"
	case status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status == http.StatusTooManyRequests:
		return "too_many_requests"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}

// poderoFail is oauthlib's error JSON as django-oauth-toolkit sends it:
// error_description only when the error has one, and on 401 the
// WWW-Authenticate header oauthlib's OAuth2Error.headers adds.
func poderoFail(status int, code, description string) *reply {
	rep := oauthFail(status, code, description)
	if status == http.StatusUnauthorized {
		rep.header.Set("WWW-Authenticate", `Bearer error="`+code+`"`)
	}
	return rep
}

// dokuFail is DOKU's non-SNAP error body ({"status":"FAILED",
// "response_code":...,"message":...}, DOKU API error-codes glossary).
func dokuFail(status int, code, message string) *reply {
	rep := jsonReply(status, "application/json", map[string]string{"status": "FAILED", "response_code": code, "message": message})
	rep.reason = code + ": " + message
	return rep
}

// dokuCode maps a status to DOKU's business error code (error-codes
// glossary).
func dokuCode(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_PARAMETER"
	case http.StatusUnauthorized:
		return "INVALID_SIGNATURE"
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "DUPLICATE_REQUEST_ID"
	case http.StatusUnprocessableEntity:
		return "VALIDATION_ERROR"
	case http.StatusTooManyRequests:
		return "TOO_MANY_REQUESTS"
	case http.StatusServiceUnavailable:
		return "MAINTENANCE_MODE"
	}
	if status >= 500 {
		return "SERVER_ERROR"
	}
	return "INVALID_PARAMETER"
}

// dinieProblem is an RFC 7807 problem document as Dinie's OpenAPI defines it.
type dinieProblem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Code   string       `json:"code,omitempty"`
	Param  string       `json:"param,omitempty"`
	Errors []dinieField `json:"errors,omitempty"`
}

type dinieField struct {
	Param  string `json:"param"`
	Detail string `json:"detail"`
	Code   string `json:"code,omitempty"`
}

// dinieErrorBase prefixes the problem type URIs (Dinie's docs show both
// .../errors/authentication-failed and .../errors/token_expired; clients are
// told to key on status and code).
const dinieErrorBase = "https://api.dinie.com.br/errors/"

func dinieFail(status int, code, detail string) *reply {
	return dinieProblemReply(dinieProblem{
		Type: dinieErrorBase + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code,
	})
}

// dinieInvalid is a 400 validation problem naming the parameter at fault.
func dinieInvalid(code, param, detail, fieldCode string) *reply {
	return dinieProblemReply(dinieProblem{
		Type: dinieErrorBase + code, Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
		Detail: detail, Code: code, Param: param,
		Errors: []dinieField{{Param: param, Detail: detail, Code: fieldCode}},
	})
}

func dinieProblemReply(p dinieProblem) *reply {
	rep := jsonReply(p.Status, "application/problem+json", p)
	rep.reason = p.Code + ": " + p.Detail
	return rep
}

func dinieCode(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "validation_error"
	case http.StatusUnauthorized:
		return "invalid_client"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	}
	if status >= 500 {
		return "internal_error"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}
