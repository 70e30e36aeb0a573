// Command load drives a real Vault over HTTP with concurrent clients and
// measures partnertoken against its performance goals (see BENCHMARKS.md,
// "Through a real Vault"). scripts/bench.sh (make bench) sets up a dev Vault
// with every plugin and the partner simulator, then runs it.
//
// Modes (-modes, comma-separated; default all):
//
//	throughput  the cached partner token read and the baselines (a minimal
//	            external plugin, HashiCorp's KV plugin as an external plugin)
//	            with the same -clients concurrent keep-alive clients, for
//	            -duration each, in -rounds rounds whose order rotates, so
//	            drift and machine noise hit every target alike. Reports req/s,
//	            latency percentiles and the ratios against the goals, each
//	            judged by the 95% interval of its per-round ratios
//	            (verdict.go).
//	cold        -cold-clients readers (1000) released at once on a config
//	            nobody read yet, while the simulator holds the mint for
//	            -cold-delay: the partner must see exactly one mint.
//	refresh     -refresh-clients readers keep reading a short-lived token at
//	            -refresh-rate reads/s in all while the simulator holds each
//	            refresh-ahead mint for -refresh-delay; p99 latency of the
//	            reads during the refresh against the cached p50.
//	scale       -scale-configs configs (10,000) in the mount: write time,
//	            LIST config/ and LIST status/ time through Vault, the time to
//	            read (mint) every token, and the plugin's resident memory per
//	            cached config.
//	outage      for each reader count of -outage-clients, readers of a
//	            fresh config while the simulator answers every token request
//	            with a 503 for -outage-duration: the time a failed read takes,
//	            the partner requests while it is down against what the
//	            engine's back-off allows, and the time from its return to the
//	            first served read.
//	leases      one config per lease_mode (per_read, none) read at full
//	            rate for -leases-duration each: the leases left in Vault and
//	            Vault's resident memory before and after (goal: none leaves
//	            no lease).
//	cluster     one load generator per node of an HA cluster (-cluster,
//	            the nodes' addresses), all at once, reading one
//	            lease_mode=none config for -cluster-duration: reads/s per
//	            node and how many reached the active node (goal: none of
//	            the standbys'). scripts/bench-cluster.sh starts a 3-node
//	            OpenBao cluster for it.
//
// cold, refresh, outage and scale write their own configs (fresh names, so a rerun
// against the same Vault works) from the simulator's handshake line
// (-sim-handshake, as internal/cmd/partnersim prints it). The exit status is 1 if a
// request failed or a goal was missed or undecided, so scripts can tell.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// target is one path the throughput mode reads.
type target struct {
	name string
	path string
	// goal is the least throughput of the partner read relative to this
	// target (0: shown without a goal).
	goal float64
}

type options struct {
	addr       string
	adminToken string
	readToken  string
	mount      string
	modes      map[string]bool

	clients  int
	duration time.Duration
	warmup   time.Duration
	rounds   int
	// noiseMargin is how far below a ratio goal a run's interval may
	// reach when the goal is inside it (judgeRatio).
	noiseMargin float64

	partner   string
	baselines []target

	handshake string

	coldClients int
	coldTrials  int
	coldPartner string
	coldDelay   time.Duration

	refreshPartner  string
	refreshLifetime time.Duration
	refreshFraction float64
	refreshDelay    time.Duration
	refreshCycles   int
	refreshClients  int
	refreshRate     float64
	refreshControl  string

	outageClients   []int
	outagePartner   string
	outageLifetime  time.Duration
	outageDuration  time.Duration
	outageInterval  time.Duration
	outageStatus    int
	outageDiscovery int

	scaleConfigs int
	scalePartner string

	leasesDuration time.Duration
	leasesPartner  string
	vaultPid       int
	pluginName     string

	cluster         []string
	clusterDuration time.Duration
	clusterPartner  string

	vaultProfile  string
	pluginProfile map[string]string // target name -> pprof base URL
}

func main() {
	o := options{}
	flag.StringVar(&o.addr, "addr", envOr("VAULT_ADDR", "http://127.0.0.1:8200"), "Vault address")
	flag.StringVar(&o.adminToken, "token", os.Getenv("VAULT_TOKEN"), "token that may write configs and read sys/pprof (root in a dev server)")
	flag.StringVar(&o.readToken, "read-token", "", "token the readers use (default: -token); scripts/bench.sh uses a non-root token with a read policy, as apps do")
	flag.StringVar(&o.mount, "mount", "partner", "mount path of partnertoken")
	label := flag.String("label", "", "what to call this run in the report's first line (e.g. the kind of reader token)")
	modes := flag.String("modes", "throughput,cold,refresh,outage,scale", "comma-separated modes to run, in this order")

	flag.IntVar(&o.clients, "clients", 16, "concurrent clients (keep-alive connections) for throughput and scale; per node in the cluster mode")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "measured time per target per round")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "unmeasured reads per target before the first round")
	flag.IntVar(&o.rounds, "rounds", 20, "rounds; each reads every target for -duration, in a rotating order")
	flag.Float64Var(&o.noiseMargin, "noise-margin", 0.03, "a ratio goal inside the run's 95% interval passes if the interval reaches no more than this fraction below it; further, the run is undecided (a miss)")

	flag.StringVar(&o.partner, "partner", "partner/token/load", "path of the cached partnertoken read")
	var targets targetList
	flag.Var(&targets, "baseline", "name=path[@goal] of a baseline read, repeatable: the partner read must reach goal times its throughput (e.g. minimal=baseline/token/load@0.9, kv-v1=kv-v1/load@1.3)")

	flag.StringVar(&o.handshake, "sim-handshake", "", "file holding the partner simulator's handshake line (needed by cold, refresh, outage and scale)")

	flag.IntVar(&o.coldClients, "cold-clients", 1000, "concurrent cold readers")
	flag.IntVar(&o.coldTrials, "cold-trials", 3, "cold trials, each on a fresh config")
	flag.StringVar(&o.coldPartner, "cold-partner", "dupr", "simulated partner the cold configs mint from (nothing else may mint from it meanwhile)")
	flag.DurationVar(&o.coldDelay, "cold-delay", time.Second, "how long the simulator holds the cold mint, so every reader arrives while it is in flight (0: no delay)")

	flag.StringVar(&o.refreshPartner, "refresh-partner", "podero", "simulated partner of the refresh config (its lifetime is changed; nothing else may mint from it meanwhile)")
	flag.DurationVar(&o.refreshLifetime, "refresh-lifetime", 40*time.Second, "token lifetime the simulator gives the refresh partner")
	flag.Float64Var(&o.refreshFraction, "refresh-fraction", 0, "refresh_fraction of the refresh config (0: the engine's default)")
	flag.DurationVar(&o.refreshDelay, "refresh-delay", 500*time.Millisecond, "how long the simulator holds each refresh mint")
	flag.IntVar(&o.refreshCycles, "refresh-cycles", 4, "refreshes to measure")
	flag.IntVar(&o.refreshClients, "refresh-clients", 4, "concurrent readers in the refresh mode")
	flag.Float64Var(&o.refreshRate, "refresh-rate", 300, "reads a second of all refresh readers together, paced so the machine is not saturated (a saturated machine's p99 is several times its p50 with or without a refresh); 0: as fast as they can")

	o.outageClients = []int{4, 32}
	flag.Func("outage-clients", "comma-separated reader counts, one outage run each (default 4,32): the partner requests must not grow with them", func(v string) error {
		o.outageClients = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("%q: want positive reader counts, e.g. 4,32", v)
			}
			o.outageClients = append(o.outageClients, n)
		}
		return nil
	})
	flag.StringVar(&o.outagePartner, "outage-partner", "setu", "simulated partner of the outage configs (its lifetime is changed and it is made to fail; nothing else may mint from it meanwhile)")
	flag.DurationVar(&o.outageLifetime, "outage-lifetime", 30*time.Second, "token lifetime the simulator gives the outage partner")
	flag.DurationVar(&o.outageDuration, "outage-duration", 75*time.Second, "how long the outage partner answers -outage-status to everything")
	flag.DurationVar(&o.outageInterval, "outage-interval", 100*time.Millisecond, "pause between two reads of one outage reader")
	flag.IntVar(&o.outageStatus, "outage-status", http.StatusServiceUnavailable, "the status the outage partner answers")
	flag.IntVar(&o.outageDiscovery, "outage-discovery-requests", 10, "partner requests the bound allows the mint that finds the partner down, which retries within the config's timeout")

	flag.StringVar(&o.refreshControl, "refresh-control", "", "a path the refresh readers read in turn with the token (e.g. the minimal plugin's baseline/token/load), as a control")
	flag.IntVar(&o.scaleConfigs, "scale-configs", 10000, "configs the scale mode writes")
	flag.StringVar(&o.scalePartner, "scale-partner", "oauth2", "simulated partner of the scale configs")
	flag.IntVar(&o.vaultPid, "vault-pid", 0, "pid of the Vault server, to account the CPU time of Vault and of each plugin process (its children) per read, and the plugin's memory (Linux /proc)")
	flag.DurationVar(&o.leasesDuration, "leases-duration", time.Minute, "leases mode: how long each lease_mode's config is read at full rate")
	flag.StringVar(&o.leasesPartner, "leases-partner", "oauth2", "leases mode: simulated partner of the configs (hour-long tokens by default)")
	flag.Func("cluster", "cluster mode: the comma-separated addresses of every node of the HA cluster (e.g. http://127.0.0.1:8200,http://127.0.0.1:8210,http://127.0.0.1:8220)", func(v string) error {
		for _, addr := range strings.Split(v, ",") {
			if addr = strings.TrimSuffix(strings.TrimSpace(addr), "/"); addr != "" {
				o.cluster = append(o.cluster, addr)
			}
		}
		return nil
	})
	flag.DurationVar(&o.clusterDuration, "cluster-duration", 30*time.Second, "cluster mode: how long every node is read")
	flag.StringVar(&o.clusterPartner, "cluster-partner", "oauth2", "cluster mode: simulated partner of the config (hour-long tokens by default)")
	flag.StringVar(&o.pluginName, "plugin-name", "vault-plugin-secrets-partnertoken", "file name of the partnertoken binary, to find its process among Vault's children")

	flag.StringVar(&o.vaultProfile, "vault-profile", "", "directory: after the rounds, read each target again while taking Vault's CPU profile (sys/pprof/profile) into <dir>/vault-<target>.pprof")
	o.pluginProfile = map[string]string{}
	flag.Func("plugin-pprof", "target=URL, repeatable: with -vault-profile, also take the CPU profile of that target's plugin from its net/http/pprof at URL (e.g. partnertoken=http://127.0.0.1:6061) into <dir>/plugin-<target>.pprof", func(v string) error {
		name, url, ok := strings.Cut(v, "=")
		if !ok || name == "" || url == "" {
			return fmt.Errorf("%q: want target=URL", v)
		}
		o.pluginProfile[name] = strings.TrimSuffix(url, "/")
		return nil
	})
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments %q", flag.Args())
	}
	if o.readToken == "" {
		o.readToken = o.adminToken
	}
	o.mount = strings.Trim(o.mount, "/")
	o.baselines = targets
	o.modes = map[string]bool{}
	var order []string
	for _, m := range strings.Split(*modes, ",") {
		m = strings.TrimSpace(m)
		switch m {
		case "throughput", "cold", "refresh", "outage", "scale", "leases", "cluster":
			o.modes[m] = true
			order = append(order, m)
		case "":
		default:
			fatalf("unknown mode %q (want throughput, cold, refresh, outage, scale, leases or cluster)", m)
		}
	}
	if o.noiseMargin < 0 || o.noiseMargin >= 1 {
		fatalf("-noise-margin %g: want a fraction from 0 up to 1", o.noiseMargin)
	}
	if o.adminToken == "" {
		fatalf("no token: set -token or VAULT_TOKEN")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *label != "" {
		*label += ": "
	}
	fmt.Printf("\n# load: %s%s, %d clients, Go %s, GOMAXPROCS %d, %d CPUs (shared with Vault, its plugins and the simulator)%s\n",
		*label, o.addr, o.clients, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), loadAverage())
	ok := true
	for _, m := range order {
		var err error
		var pass bool
		switch m {
		case "throughput":
			pass, err = runThroughput(ctx, &o)
		case "cold":
			pass, err = runCold(ctx, &o)
		case "refresh":
			pass, err = runRefresh(ctx, &o)
		case "outage":
			pass, err = runOutage(ctx, &o)
		case "scale":
			pass, err = runScale(ctx, &o)
		case "leases":
			pass, err = runLeases(ctx, &o)
		case "cluster":
			pass, err = runCluster(ctx, &o)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: %s: %v\n", m, err)
			os.Exit(2)
		}
		ok = ok && pass
	}
	if !ok {
		fmt.Println("\nload: at least one goal was missed (MISS or UNDECIDED above)")
		os.Exit(1)
	}
}

// targetList is the repeatable -baseline flag.
type targetList []target

func (t *targetList) String() string {
	var parts []string
	for _, x := range *t {
		parts = append(parts, fmt.Sprintf("%s=%s@%g", x.name, x.path, x.goal))
	}
	return strings.Join(parts, ",")
}

func (t *targetList) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || name == "" || rest == "" {
		return fmt.Errorf("%q: want name=path[@goal]", v)
	}
	path, goal, hasGoal := strings.Cut(rest, "@")
	x := target{name: name, path: strings.Trim(path, "/")}
	if hasGoal {
		if _, err := fmt.Sscanf(goal, "%g", &x.goal); err != nil || x.goal <= 0 {
			return fmt.Errorf("%q: the goal after @ must be a positive number", v)
		}
	}
	*t = append(*t, x)
	return nil
}

// loadAverage describes the machine's load averages (Linux), to tell a busy
// machine from a quiet one in a report.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return fmt.Sprintf("; load average before the run %s %s %s", f[0], f[1], f[2])
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(2)
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
