//go:build !linux

package e2e

import "os/exec"

func setDeathSignal(*exec.Cmd) {}

// Processes are inspected through /proc, which only Linux has.

func isPlugin(int) bool { return false }

func childPids(int) []int { return nil }

func alive(int) bool { return false }
