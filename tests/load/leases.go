package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// leaseModes are the config's lease_mode values the leases mode compares.
var leaseModes = []string{"per_read", "none"}

// runLeases reads one config per lease_mode at full rate for
// -leases-duration each, and reports what that leaves in Vault: the leases
// under the config's token path and Vault's resident memory before and
// after. Goal: lease_mode=none leaves no lease at all.
func runLeases(ctx context.Context, o *options) (bool, error) {
	sim, err := loadSimulator(o.handshake)
	if err != nil {
		return false, err
	}
	client := newHTTPClient(o.clients)
	admin := &vault{addr: o.addr, token: o.adminToken, http: client}
	fmt.Printf("\n## Lease growth: %s of reads at full rate per lease_mode, %d clients (partner %s)\n\n", o.leasesDuration, o.clients, o.leasesPartner)
	fmt.Printf("| lease_mode | reads | reads/s | leases in Vault after | Vault RSS before | Vault RSS after | per read |\n|---|---|---|---|---|---|---|\n")
	ok := true
	stamp := time.Now().Unix()
	for _, mode := range leaseModes {
		name := fmt.Sprintf("leases-%s-%d", mode, stamp)
		if err := writeConfig(ctx, admin, sim, o.mount, name, o.leasesPartner, map[string]any{"lease_mode": mode}); err != nil {
			return false, err
		}
		path := o.mount + "/token/" + name
		if _, err := admin.read(ctx, path); err != nil { // mint before measuring
			return false, err
		}
		before := vaultMemory(o.vaultPid)
		seg := drive(ctx, client, o.addr, o.readToken, path, o.clients, o.leasesDuration)
		if seg.errs > 0 {
			return false, fmt.Errorf("%d of the %s reads failed, the first with: %v", seg.errs, mode, seg.firstErr)
		}
		after := vaultMemory(o.vaultPid)
		leases, err := admin.list(ctx, "sys/leases/lookup/"+path)
		if err != nil {
			return false, fmt.Errorf("listing the leases of %s: %w", path, err)
		}
		perRead := "n/a"
		if before > 0 && after > 0 && seg.count > 0 {
			perRead = fmt.Sprintf("%.2f KB", float64(after-before)/1024/float64(seg.count))
		}
		fmt.Printf("| %s | %d | %.0f | %d | %s | %s | %s |\n", mode, seg.count, float64(seg.count)/o.leasesDuration.Seconds(),
			len(leases), mib(before), mib(after), perRead)
		if mode == "none" && len(leases) != 0 {
			ok = false
		}
	}
	fmt.Printf("\nGoal: lease_mode=none leaves no lease in Vault: %s\n", passMiss(ok))
	return ok, nil
}

// vaultMemory is the resident set size of the Vault server, 0 if unknown.
func vaultMemory(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	return residentBytes(filepath.Join("/proc", strconv.Itoa(pid), "status"))
}

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}
