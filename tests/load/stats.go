package main

import (
	"fmt"
	"slices"
	"time"
)

// summary is a latency distribution.
type summary struct {
	n                        int
	p50, p90, p99, max, mean time.Duration
}

// summarize sorts lat in place.
func summarize(lat []time.Duration) summary {
	if len(lat) == 0 {
		return summary{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	return summary{
		n:    len(lat),
		p50:  percentile(lat, 0.50),
		p90:  percentile(lat, 0.90),
		p99:  percentile(lat, 0.99),
		max:  lat[len(lat)-1],
		mean: sum / time.Duration(len(lat)),
	}
}

// percentile of sorted lat, nearest rank.
func percentile(lat []time.Duration, p float64) time.Duration {
	i := int(float64(len(lat))*p+0.999999) - 1
	return lat[min(max(i, 0), len(lat)-1)]
}

// ms formats a duration in milliseconds with enough digits for sub-ms reads.
func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.3f", float64(d)/1e6)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1f", float64(d)/1e6)
	}
}
