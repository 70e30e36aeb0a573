package backend

import (
	"sync"
	"time"
)

const (
	// delayWindow is how long an observed delay keeps shortening leases: the
	// longest delay of the current and the previous window counts.
	delayWindow = time.Minute
	// maxDelayGuard bounds what one pathological stall can take off every
	// lease for the next minute or two.
	maxDelayGuard = 30 * time.Second
)

// delayWatch remembers the longest delay the engine saw recently between a
// request's arrival and its answer, or between a timer's due time and its
// firing. Such delays come from a starved machine (CPU, memory, a paused
// process), and whatever starves the plugin also delays the answer on its
// way back through Vault to the reader, who counts its lease only from when
// the answer arrives. Leases are shortened by the recent peak, so a lease
// still ends before the token does when the machine is slow.
type delayWatch struct {
	mu sync.Mutex
	// start is the beginning of the current window; cur and prev are the
	// longest delays of the current and the previous window.
	start     time.Time
	cur, prev time.Duration
}

// observe records a delay seen at now.
func (w *delayWatch) observe(now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	w.cur = max(w.cur, min(d, maxDelayGuard))
}

// recent is the longest delay observed in the current or previous window.
func (w *delayWatch) recent(now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	return max(w.cur, w.prev)
}

func (w *delayWatch) roll(now time.Time) {
	switch elapsed := now.Sub(w.start); {
	case w.start.IsZero() || elapsed >= 2*delayWindow || elapsed < 0:
		w.start, w.cur, w.prev = now, 0, 0
	case elapsed >= delayWindow:
		w.start, w.prev, w.cur = w.start.Add(delayWindow), w.cur, 0
	}
}
