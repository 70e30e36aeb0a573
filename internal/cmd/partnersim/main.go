// Command partnersim serves the partner token simulator (package partnersim)
// on loopback for `make dev` and the Vault end-to-end tests.
//
// On start it prints one JSON line to stdout, the handshake a script or a
// test reads to configure the engine:
//
//	{"url":"http://127.0.0.1:8300","token_urls":{"dupr":"...",...},"clients":{"dupr":{"id":"...","secret":"..."},...}}
//
// and with -tls-addr also "tls_url", "tls_token_urls" and "ca_certificate"
// (the PEM of the test CA the TLS listener's certificate chains to).
//
// The clients are the simulator's demo credentials, printed on purpose so the
// caller can configure the engine with them; nothing else is ever written to
// stdout. Logs go to stderr. SIGINT or SIGTERM stops it cleanly.
//
// Usage:
//
//	partnersim [-addr 127.0.0.1:8300] [-tls-addr 127.0.0.1:8443] [-lifetime dupr=30s,doku=2m] [-lifetime setu=1m] [-dinie-rate-limit 100]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// lifetimes is the repeatable -lifetime flag: partner=duration pairs, one
// per flag or comma-separated.
type lifetimes map[string]time.Duration

func (l lifetimes) String() string {
	parts := make([]string, 0, len(l))
	for p, d := range l {
		parts = append(parts, p+"="+d.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (l lifetimes) Set(v string) error {
	for _, pair := range strings.Split(v, ",") {
		partner, dur, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("%q: want partner=duration, e.g. dupr=30s", pair)
		}
		if !slices.Contains(partnersim.Partners(), partner) {
			return fmt.Errorf("unknown partner %q (want one of %s)", partner, strings.Join(partnersim.Partners(), ", "))
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d < time.Second {
			return fmt.Errorf("%s=%s: want a duration of at least 1s, e.g. 30s or 2m", partner, dur)
		}
		l[partner] = d
	}
	return nil
}

// handshake is the one line printed to stdout once listening.
type handshake struct {
	URL       string                       `json:"url"`
	TokenURLs map[string]string            `json:"token_urls"`
	Clients   map[string]partnersim.Client `json:"clients"`
	// With -tls-addr: the TLS listener and the test CA its certificate
	// chains to.
	TLSURL        string            `json:"tls_url,omitempty"`
	TLSTokenURLs  map[string]string `json:"tls_token_urls,omitempty"`
	CACertificate string            `json:"ca_certificate,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8300", "listen address (loopback only is advised: the credentials are public)")
	tlsAddr := flag.String("tls-addr", "", "also serve over TLS here, with a certificate from a test CA made at start (e.g. 127.0.0.1:8443); empty: no TLS")
	lt := lifetimes{}
	flag.Var(lt, "lifetime", "token lifetime per partner as partner=duration; repeatable or comma-separated (e.g. dupr=30s,doku=2m)")
	dinieLimit := flag.Int("dinie-rate-limit", partnersim.DefaultDinieRateLimit, "Dinie token requests accepted per one-minute window")
	duprExpiry := flag.String("dupr-expiry-layout", partnersim.DUPRExpiryDocumented,
		"Go time layout of DUPR's result.expiry (e.g. "+partnersim.DUPRExpiryJackson+" as a Java service may write it), or "+partnersim.DUPRNoExpiry+" to leave it out")
	dinieBase := flag.String("dinie-base", partnersim.DinieBaseSDK,
		"the one base path Dinie's token endpoint is served under: "+partnersim.DinieBaseSDK+" (Dinie's SDKs) or "+partnersim.DinieBasePortal+" (its developer portal)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "partnersim: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	clients := partnersim.DefaultClients()
	srv := partnersim.New(partnersim.Options{
		Addr:             *addr,
		TLSAddr:          *tlsAddr,
		Clients:          clients,
		Lifetimes:        lt,
		Logger:           logger,
		DinieRateLimit:   *dinieLimit,
		DUPRExpiryLayout: *duprExpiry,
		DinieBase:        *dinieBase,
	})
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()

	hs := handshake{URL: srv.URL(), TokenURLs: map[string]string{}, Clients: clients}
	for _, p := range partnersim.Partners() {
		hs.TokenURLs[p] = srv.TokenURL(p)
	}
	if *tlsAddr != "" {
		hs.TLSURL, hs.TLSTokenURLs, hs.CACertificate = srv.TLSURL(), map[string]string{}, srv.CACertificate()
		for _, p := range partnersim.Partners() {
			hs.TLSTokenURLs[p] = srv.TLSTokenURL(p)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(hs); err != nil {
		fmt.Fprintln(os.Stderr, "partnersim: writing the handshake:", err)
		srv.Close()
		os.Exit(1)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	logger.Info("partner simulator stopping", "signal", (<-sig).String())
}
