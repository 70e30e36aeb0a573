// Package partnersim simulates, on loopback, the token endpoints of the
// partners the engine mints tokens for, as strictly as the partners
// themselves: a request the real partner would refuse is refused with the
// partner's documented status and error body. Engine tests run against it
// in-process; `make dev` and the Vault end-to-end tests run it as the
// internal/cmd/partnersim command and drive it through its admin API
// (the tests module's simadmin client).
//
// # Token endpoints
//
// Each partner lives under its own prefix followed by the partner's real
// path, so a client derives everything (DOKU's Request-Target included) from
// the token URL. [Server.TokenURL] returns them:
//
//	dupr    POST /dupr/api/auth/v1.0/token          x-authorization: base64(id:secret), empty or {} body
//	setu    POST /setu/auth/token                   form grant_type, client_id, client_secret
//	podero  POST /podero/oauth2/token/              Basic auth, JSON {"grant_type":"client_credentials"}
//	doku    POST /doku/adv-core-api/partner/v1.0/token  Client-Id, Request-Id, Request-Timestamp, HMAC Signature
//	                                                (Request-Target is the request path, /doku prefix included)
//	dinie   POST /dinie/api/v3/auth/token           Basic auth, form grant_type=client_credentials
//	oauth2  POST /oauth2/token                      RFC 6749 §4.4 or the JWT bearer grant (RFC 7523 §2.1);
//	                                                client_secret_basic, client_secret_post, private_key_jwt,
//	                                                client_secret_jwt or tls_client_auth
//
// The oauth2 partner checks an assertion as a strict authorization server
// does: its signature under the client's registered jwks (HS256: the
// client secret), iss, sub, aud (the token URL as addressed, or the
// client's audience), exp (at most 5 minutes away for a client assertion,
// an hour for the grant's), nbf, iat, and a jti never seen before.
//
// # TLS
//
// With [Options.TLSAddr] the simulator also serves every partner over TLS,
// with a certificate from a test CA it makes at Start
// ([Server.CACertificate]; no system root trusts it, as with a partner's
// private CA). The listener verifies a client certificate chained to the CA
// when one is given; a client with a CertificateSubject must present one
// with that subject on every request (RFC 8705 §2.1.2), and oauth2 then
// accepts tls_client_auth: client_id in the body, the certificate as the
// credential. [Server.IssueClientCertificate] issues client certificates.
//
// Dinie's documentation gives two bases for its API, /api/v3 (its SDKs)
// and /v3 (its developer portal); the simulator serves only the one
// [Options.DinieBase] names, the SDKs' by default, as a deployment would.
//
// DUPR's result.expiry comes in the documented shape unless
// [Options.DUPRExpiryLayout] asks for a Java serialiser's (or none), for
// tests of the engine's expiry fallbacks.
//
// Dinie also enforces a fixed one-minute rate-limit window
// ([Options.DinieRateLimit], default [DefaultDinieRateLimit]) and reports it in
// X-RateLimit-* headers on every answer; DOKU refuses a Request-Timestamp
// more than [DOKUTimestampWindow] away from the simulator's clock and a
// Request-Id it has seen before.
//
// Every partner starts with the demo credentials of [DefaultClients] and the
// token lifetimes of [DefaultLifetimes]. Every issued token is unique and
// remembered with its expiry; [Server.Introspect] tells whether a token was
// issued here and is still valid.
//
// # Faults
//
// [Server.Inject] queues a [Fault] for a partner: a custom status or body,
// a delay, a body trickled byte by byte, an oversized or malformed body, an
// oversized header. The
// next requests to that partner consume the queue in order; a faulted
// request is counted in Faults, not in Mints or Rejections. A fault with
// Times [UntilCleared] is an outage: it answers every request until
// [Server.ClearFaults].
//
// # Admin API
//
// The same listener serves an admin API under /_sim/ for out-of-process use.
// Bodies are JSON; unknown fields are refused so that a typo fails loudly.
// Errors are {"error":"..."} with status 400 (bad input), 404 (unknown
// partner or path) or 405 (wrong method).
//
//	GET  /_sim/stats
//	     200 {"dupr":{"mints":1,"requests":2,"rejections":1,"faults":0},...}
//	POST /_sim/faults/<partner>
//	     {"status":503,"body":"...","content_type":"...","retry_after":"2",
//	      "rate_limit_reset":"2026-01-02T15:04:05Z" or "30s" (from now),
//	      "delay":"2s","trickle":true,"trickle_interval":"200ms",
//	      "oversize":false,"malformed":false,"oversize_header":false,
//	      "times":1}   -> 204
//	     (times -1: every request until the faults are cleared, an outage)
//	DELETE /_sim/faults/<partner>   -> 204 (drops the partner's queued faults)
//	PUT  /_sim/lifetimes/<partner>  {"lifetime":"30s"}   -> 204
//	PUT  /_sim/clients/<partner>    {"id":"...","secret":"...","previous_secrets":["..."],
//	                                 "jwks":{"keys":[...]},"tls_client_auth_subject_dn":"CN=...",
//	                                 "audience":"..."} -> 204 (see Client)
//	POST /_sim/certificates         {"common_name":"...","lifetime":"720h"}
//	     200 {"certificate":"-----BEGIN CERTIFICATE-----...","private_key":"..."}
//	     (a client certificate from the test CA; 400 without TLS)
//	POST /_sim/introspect           {"partner":"dupr","token":"..."}
//	     200 {"active":true,"expires_at":"2026-01-02T15:04:05Z"}
//	     (expires_at is omitted for a token the simulator never issued)
//	POST /_sim/reset                -> 204 (counters and queued faults)
//
// Durations are Go duration strings. The simulator never logs a secret,
// a credential header, a request body or an issued token.
package partnersim
