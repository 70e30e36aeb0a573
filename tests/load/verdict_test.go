package main

import (
	"strings"
	"testing"
)

// Rounds like those of the Raft runs: per-round ratios between 0.95 and
// 1.08 around parity.
func TestJudgeRatio(t *testing.T) {
	parity := []float64{1.02, 0.99, 1.01, 1.00, 0.97, 1.02, 1.00, 1.00, 1.04, 1.08,
		0.98, 0.98, 1.01, 0.99, 1.02, 0.95, 0.98, 1.03, 0.95, 0.95}
	scale := func(rounds []float64, f float64) []float64 {
		out := make([]float64, len(rounds))
		for i, r := range rounds {
			out[i] = r * f
		}
		return out
	}
	noisy := []float64{0.70, 1.30, 0.80, 1.25, 0.75, 1.20, 0.85, 1.35, 0.72, 1.28,
		0.90, 1.10, 0.78, 1.22, 0.74, 1.26, 0.82, 1.18, 0.76, 1.24}
	for _, c := range []struct {
		name   string
		rounds []float64
		goal   float64
		pass   bool
		result string
	}{
		{"at parity, the median just below the goal inside a narrow interval", scale(parity, 0.995), 1.0, true, "PASS (at the goal, within noise)"},
		{"the median at the goal", parity, 1.0, true, "PASS"},
		{"clearly above", scale(parity, 1.10), 1.0, true, "PASS"},
		{"measurably below, however little", scale(parity, 0.95), 1.0, false, "MISS"},
		{"far below", scale(parity, 0.5), 1.0, false, "MISS"},
		{"too noisy to tell, the median below", scale(noisy, 0.98), 1.0, false, "UNDECIDED: the interval"},
		{"noisy, the median above", scale(noisy, 1.05), 1.0, true, "PASS"},
		{"too few rounds for an interval", parity[:4], 1.0, false, "UNDECIDED: too few rounds"},
		{"a goal above 1", scale(parity, 1.35), 1.3, true, "PASS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := judgeRatio(summarizeRatios(c.rounds), c.goal, 0.03)
			if v.pass != c.pass || !strings.HasPrefix(v.result, c.result) {
				t.Errorf("%s: pass=%v %q, want pass=%v and a result starting %q", interval(summarizeRatios(c.rounds)), v.pass, v.result, c.pass, c.result)
			}
		})
	}
}
