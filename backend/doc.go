// Package backend is the partnertoken secrets engine: partner credentials
// under config/<name>, their bearer tokens as Vault leases under
// token/<name>. The story of why it works as it does is in
// docs/how-it-works.md.
//
// # A read, through the code
//
// A read of token/<name> that finds no token it can lease goes, one layer
// a line:
//
//	pathTokenRead             path_token.go                   parses the name, shapes the answer
//	backend.lease             lease.go                        the lease the read gets (its rules: lease_rules.go)
//	tokenCache.get            cache_read.go                   a cached token, or else a mint
//	tokenCache.shareMint      cache_mint.go                   one mint for every concurrent caller
//	tokenCache.mintAndCommit  cache_mint.go                   remembered refusals and waits; record, commit
//	tokenCache.timedMint      cache_mint.go                   the config's timeout; the log
//	minter.tryCredentials     mint.go                         the current secret and key, then the next ones
//	minter.retryAttempts      mint.go                         attempts and the back-off between them
//	provider.Mint             internal/provider/provider.go   the contract every partner relies on
//	the partner's mint        internal/provider/<partner>.go  its protocol: the request, the answer
//	Request.send, post        internal/provider/http.go       one HTTP request, through egress.NewClient
//	                                                          (configClients for a config's own TLS material)
//
// A cached read stops at tokenCache.get. On a standby that serves reads
// (OpenBao's), pathTokenRead calls backend.readReplica (standby.go)
// instead, which answers an unleased read from the replica through
// tokenCache.fromReplica (cache_read.go) or hands it to the active node. A refresh ahead enters at
// tokenCache.shareAttempt (cache_mint.go), from refreshInBackground (refresh.go), armed by the
// first read of a token; a write to refresh/<name> at tokenCache.forceRefresh
// (cache_read.go); a config write with verify=true at tokenCache.verify
// (cache_config.go), which goes straight to timedMint.
//
// # Retries
//
// Four mechanisms decide when the partner is asked again:
//
//	per-mint back-off: minter.retryAttempts (mint.go)
//	    retries a network error, 408, 429 or 5xx within the config's
//	    timeout, waiting as long as the partner asks; protects a reader
//	    from a partner's passing failure. Not while the partner is known
//	    to be down: then each attempt is one request (oneAttempt).
//	remembered refusals, partner waits and outages: cacheEntry
//	(cache_entry.go, cache_outage.go)
//	    answer every mint at once, without asking the partner, until the
//	    config's refusal_backoff or the partner's Retry-After has passed
//	    or, for a partner that is down, until the outage's next attempt,
//	    which one caller at a time makes (claimAttempt), on a back-off from
//	    a second up to the mount's outage_backoff_max; a config write
//	    replaces the entry and forgets them; protects the partner, and the
//	    readers from waiting on a mint known to fail.
//	background refresh: refreshInBackground (refresh.go)
//	    tries a failed refresh ahead again for as long as the current
//	    token can be served, on the same schedule (the outage's next
//	    attempt, not before a partner's wait or a refusal's end), at most
//	    refresh_rate a second per partner endpoint (refreshLimits);
//	    protects the readers of a token in use.
//	retry on a config change or a too-short lease: tokenCache.get
//	    (cache_read.go) and backend.lease (lease.go)
//	    look once more when a config write discarded the token a read
//	    waited for, or when the token found can no longer be leased long
//	    enough; protects the reader from a race it did not cause.
//
// # Where the engine may connect
//
// Only where the mount's allowed_token_url_hosts allows, which
// internal/egress decides on its own: the token URL is checked when a
// config is written (egress.CheckTokenURL, from validateConfig) and the
// resolved address on every connection (egress.NewClient, built in
// attach, and for each config with TLS material of its own in
// config_clients.go); allowlist.go loads the setting and reloads it after
// a write. A config's TLS material changes whom it trusts and what it
// presents (egress.TLSConfig), never where it may connect.
package backend
