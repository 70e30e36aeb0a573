package main

import (
	"fmt"
	"math"

	"golang.org/x/perf/benchmath"
)

// confidence is the level of the interval a goal is judged by.
const confidence = 0.95

// ratioVerdict is what one run says about a goal "at least goal times the
// other target", judged by the paired per-round ratios: each round reads
// both targets back to back, so a ratio of one round cancels what drifts
// across rounds (the machine, Vault's growing state), and the rounds give
// the run's own measure of its noise.
type ratioVerdict struct {
	pass   bool
	result string
}

// summarizeRatios is the median of the per-round ratios and its interval.
// The interval is distribution-free (benchstat's: the median's, from order
// statistics), since rounds on a shared machine are anything but normal.
func summarizeRatios(rounds []float64) benchmath.Summary {
	return benchmath.AssumeNothing.Summary(benchmath.NewSample(rounds, &benchmath.DefaultThresholds), confidence)
}

// judgeRatio decides a goal from the per-round ratios' median and its
// interval. A single run cannot tell apart two targets closer than its
// noise, and a ratio goal set at a ceiling (1.0x a plugin that does
// nothing but answer) can only ever be reached within it. So, as in a
// non-inferiority test:
//
//   - PASS: the median ratio is at or above the goal;
//   - MISS: the whole interval lies below the goal: measurably slower,
//     however little;
//   - PASS (at the goal, within noise): the median is below the goal, but
//     the goal is inside the interval and the interval reaches no lower
//     than margin (a fraction) below the goal;
//   - UNDECIDED: the median is below the goal inside an interval too wide
//     for a decision (noisy rounds, or too few): a miss until a longer run
//     decides.
func judgeRatio(s benchmath.Summary, goal, margin float64) ratioVerdict {
	var v ratioVerdict
	floor := goal * (1 - margin)
	switch {
	case math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0):
		v.result = fmt.Sprintf("UNDECIDED: too few rounds for a %.0f%% interval, run more", confidence*100)
	case s.Center >= goal:
		v.pass, v.result = true, "PASS"
	case s.Hi < goal:
		v.result = "MISS"
	case s.Lo >= floor:
		v.pass, v.result = true, "PASS (at the goal, within noise)"
	default:
		v.result = fmt.Sprintf("UNDECIDED: the interval reaches below %.2fx, run more rounds", floor)
	}
	return v
}

// interval formats a median ratio and its interval.
func interval(s benchmath.Summary) string {
	if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) {
		return fmt.Sprintf("%.3f [no interval]", s.Center)
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", s.Center, s.Lo, s.Hi)
}
