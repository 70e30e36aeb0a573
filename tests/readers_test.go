package e2e

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// readSample is one read of a background reader.
type readSample struct {
	start, end time.Time
	// status is 200, the status of the error answer, or 0 when no answer
	// came.
	status int
	token  string
	err    error
}

func (s readSample) took() time.Duration { return s.end.Sub(s.start) }

// appReaders are a few applications reading one token path of one server,
// each at its own pace, recording every read: the load under which the
// suite watches a partner outage or a plugin crash. (haReaders read through
// each node of a cluster.)
type appReaders struct {
	stopped atomic.Bool
	wg      sync.WaitGroup

	mu      sync.Mutex
	samples []readSample
}

// startAppReaders starts n readers of token/<name> of the mount at path
// through c, each reading every interval (or at once after a read that
// took longer), until stop.
func startAppReaders(ctx context.Context, c *vaultClient, path, name string, n int, interval time.Duration) *appReaders {
	r := &appReaders{}
	for i := range n {
		r.wg.Go(func() {
			// Staggered, so the readers do not arrive in step.
			next := time.Now().Add(time.Duration(i) * interval / time.Duration(n))
			for !r.stopped.Load() && ctx.Err() == nil {
				time.Sleep(time.Until(next))
				s := readSample{start: time.Now()}
				l, err := readToken(ctx, c, path, name)
				s.end, s.err = time.Now(), err
				switch {
				case err == nil:
					s.status, s.token = 200, l.AccessToken
				default:
					s.status = statusOf(err)
				}
				r.mu.Lock()
				r.samples = append(r.samples, s)
				r.mu.Unlock()
				if next = next.Add(interval); next.Before(s.end) {
					next = s.end
				}
			}
		})
	}
	return r
}

// firstServedAfter is the first read that started at t or later and got a
// token, if one has ended yet.
func (r *appReaders) firstServedAfter(t time.Time) (readSample, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first readSample
	found := false
	for _, s := range r.samples {
		if s.status == 200 && !s.start.Before(t) && (!found || s.end.Before(first.end)) {
			first, found = s, true
		}
	}
	return first, found
}

// stop stops the readers and returns every read, in the order they started.
func (r *appReaders) stop() []readSample {
	r.stopped.Store(true)
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.samples)
	slices.SortFunc(out, func(a, b readSample) int { return a.start.Compare(b.start) })
	return out
}
