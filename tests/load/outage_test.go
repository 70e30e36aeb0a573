package main

import (
	"testing"
	"time"
)

func TestOutageRequestBound(t *testing.T) {
	for _, tc := range []struct {
		name               string
		window, backoffMax time.Duration
		want               int
	}{
		// Steps of 1, 2, 4, 8 and 16 s, then attempts at least 15 s apart.
		{"a 75 s outage under the default 30 s cap", 75 * time.Second, 30 * time.Second, 10 + 5 + 5 + 1},
		{"a longer outage adds attempts half the cap apart", 135 * time.Second, 30 * time.Second, 10 + 5 + 9 + 1},
		{"a cap of a second leaves no ramp", 10 * time.Second, time.Second, 10 + 0 + 20 + 1},
		{"a short cap ramps in two steps", 20 * time.Second, 4 * time.Second, 10 + 2 + 10 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := outageRequestBound(tc.window, tc.backoffMax, 10); got != tc.want {
				t.Errorf("bound = %d, want %d", got, tc.want)
			}
		})
	}
}
