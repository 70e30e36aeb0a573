package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/metricsjson"
)

// clusterNode is one node of the cluster mode's HA cluster.
type clusterNode struct {
	addr   string
	active bool
	admin  *vault
	// before and after are what the node's engine had answered of the
	// config around the run: its cache hits and misses, and the reads it
	// answered from its replica as a standby.
	before, after clusterCounts
	seg           segment
}

type clusterCounts struct {
	served, fromReplica float64
}

// runCluster reads one lease_mode=none config through every node of an HA
// cluster at once (-cluster: the nodes' addresses), a load generator of
// -clients clients per node, for -cluster-duration. It reports the
// reads per second through each node and how many reads the active node's
// engine answered: its own, and any of the standbys' that reached it.
// Goal: none of the standbys' reads reached the active node.
func runCluster(ctx context.Context, o *options) (bool, error) {
	if len(o.cluster) < 2 {
		return false, errors.New("-cluster needs the addresses of at least two nodes")
	}
	sim, err := loadSimulator(o.handshake)
	if err != nil {
		return false, err
	}
	client := newHTTPClient(len(o.cluster) * o.clients)
	var nodes []*clusterNode
	var active *clusterNode
	for _, addr := range o.cluster {
		n := &clusterNode{addr: addr, admin: &vault{addr: addr, token: o.adminToken, http: client}}
		role, err := nodeRole(ctx, client, addr)
		if err != nil {
			return false, err
		}
		if n.active = role == "active"; n.active {
			active = n
		}
		nodes = append(nodes, n)
	}
	if active == nil {
		return false, errors.New("no node of -cluster is the active one (sys/health 200)")
	}
	name := fmt.Sprintf("cluster-none-%d", time.Now().Unix())
	if err := writeConfig(ctx, active.admin, sim, o.mount, name, o.clusterPartner, map[string]any{"lease_mode": "none"}); err != nil {
		return false, err
	}
	path := o.mount + "/token/" + name
	if _, err := active.admin.read(ctx, path); err != nil { // mint before measuring
		return false, err
	}
	if err := waitReplicas(ctx, nodes, active, o.mount, name, path); err != nil {
		return false, err
	}

	fmt.Printf("\n## Cluster: lease_mode=none reads through each of %d nodes at once, %d clients per node, %s (partner %s)\n\n",
		len(nodes), o.clients, o.clusterDuration, o.clusterPartner)
	for _, n := range nodes {
		if n.before, err = n.counts(ctx, o.mount, name); err != nil {
			return false, err
		}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			n.seg = drive(ctx, client, n.addr, o.readToken, path, o.clients, o.clusterDuration)
		})
	}
	wg.Wait()
	for _, n := range nodes {
		if n.seg.errs > 0 {
			return false, fmt.Errorf("%d of the reads through %s failed, the first with: %v", n.seg.errs, n.addr, n.seg.firstErr)
		}
		if n.after, err = n.counts(ctx, o.mount, name); err != nil {
			return false, err
		}
	}

	fmt.Printf("| node | role | reads | reads/s | p50 ms | p99 ms | answered from its replica |\n|---|---|---|---|---|---|---|\n")
	total, fromStandbys := 0, 0
	for _, n := range nodes {
		s := summarize(n.seg.lat)
		role, replica := "standby", fmt.Sprintf("%.0f", n.after.fromReplica-n.before.fromReplica)
		if n.active {
			role, replica = "active", "n/a"
		} else {
			fromStandbys += n.seg.sent
		}
		total += n.seg.count
		fmt.Printf("| %s | %s | %d | %.0f | %s | %s | %s |\n", n.addr, role, n.seg.count,
			float64(n.seg.count)/o.clusterDuration.Seconds(), ms(s.p50), ms(s.p99), replica)
	}
	// Counted by what was sent: a read answered just after the period is
	// not in the table, but the engine answered it.
	reached := active.after.served - active.before.served
	fromStandbysAtActive := reached - float64(active.seg.sent)
	fmt.Printf("\nAll nodes: %d reads, %.0f reads/s. The active node's engine answered %.0f reads: the %d sent to it and %.0f of the %d sent to the standbys.\n",
		total, float64(total)/o.clusterDuration.Seconds(), reached, active.seg.sent, fromStandbysAtActive, fromStandbys)
	ok := fromStandbysAtActive == 0
	fmt.Printf("\nGoal: none of the standbys' reads reached the active node: %s\n", passMiss(ok))
	return ok, nil
}

// nodeRole is "active" or "standby" from the node's sys/health.
func nodeRole(ctx context.Context, client *http.Client, addr string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/sys/health", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return "active", nil
	case http.StatusTooManyRequests:
		return "standby", nil
	}
	return "", fmt.Errorf("%s is neither active nor a standby: sys/health answered HTTP %d", addr, resp.StatusCode)
}

// counts reads what the node's engine answered of config name so far:
// its own metrics (local=true), which a standby that serves reads would
// otherwise forward to the active node. Where standbys forward every
// request, a standby's count is the active node's.
func (n *clusterNode) counts(ctx context.Context, mount, name string) (clusterCounts, error) {
	resp, err := n.admin.read(ctx, mount+"/metrics?local=true")
	if err != nil {
		return clusterCounts{}, err
	}
	value := func(family string) float64 {
		return metricsjson.Value(resp.Data, family, map[string]string{"config": name})
	}
	return clusterCounts{
		served:      value("partnertoken_cache_hits_total") + value("partnertoken_cache_misses_total"),
		fromReplica: value("partnertoken_standby_reads_total"),
	}, nil
}

// waitReplicas waits up to 30 s until a read through each standby leaves
// the active node's count where it was: the config and its token have
// reached every replica. It returns without error when that does not
// happen (standbys that forward every read): the run then shows it.
func waitReplicas(ctx context.Context, nodes []*clusterNode, active *clusterNode, mount, name, path string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, err := active.counts(ctx, mount, name)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n == active {
				continue
			}
			if _, err := n.admin.read(ctx, path); err != nil {
				return fmt.Errorf("reading %s through %s: %w", path, n.addr, err)
			}
		}
		after, err := active.counts(ctx, mount, name)
		if err != nil {
			return err
		}
		if after.served == before.served || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
