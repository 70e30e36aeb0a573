package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// processes are the processes whose CPU time the throughput mode accounts
// per request: Vault, the plugins it runs, and the load tool itself.
type processes struct {
	pids map[string]int // name -> pid
}

// findProcesses finds, through /proc, Vault's child processes (its plugins,
// named after their binaries). It finds only the load tool itself without
// a Vault pid or where there is no /proc.
func findProcesses(vaultPid int) *processes {
	p := &processes{pids: map[string]int{"load": os.Getpid()}}
	if vaultPid <= 0 {
		return p
	}
	p.pids["vault"] = vaultPid
	for _, pid := range children(vaultPid) {
		if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil {
			p.pids[filepath.Base(exe)] = pid
		}
	}
	return p
}

// children are the pids whose parent is ppid.
func children(ppid int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		fields := statFields(filepath.Join(dir, "stat"))
		// ppid is field 4 of /proc/<pid>/stat, the second after the name.
		if len(fields) > 1 && fields[1] == strconv.Itoa(ppid) {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			out = append(out, pid)
		}
	}
	return out
}

// statFields are the fields of a /proc/<pid>/stat file after the command
// name (which is in parentheses and may hold spaces): state, ppid, ...
func statFields(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// names are the processes found, sorted, vault and load first.
func (p *processes) names() []string {
	var out []string
	for name := range p.pids {
		if name != "vault" && name != "load" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if _, ok := p.pids["vault"]; ok {
		out = append([]string{"vault"}, out...)
	}
	return append(out, "load")
}

// cpu returns the CPU time (user + system) each process used so far.
func (p *processes) cpu() map[string]time.Duration {
	out := make(map[string]time.Duration, len(p.pids))
	for name, pid := range p.pids {
		// utime and stime are fields 14 and 15 of /proc/<pid>/stat.
		fields := statFields("/proc/" + strconv.Itoa(pid) + "/stat")
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[name] = time.Duration(utime+stime) * time.Second / userHZ
	}
	return out
}
