package capability

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/troupe-run/troupe/environment"
)

// cacheKey is the stable identity of a discovery: replacing the handle of
// an environment id does not change it.
type cacheKey struct {
	envID, rootID, path string
}

type cacheEntry struct {
	done chan struct{} // closed when d and err are set
	d    Discovery
	err  error
}

// DiscoveryCache memoizes what capability roots offer, for one thread,
// keyed by (environment id, root id, path). Successes and lasting failures
// (bad path, escape, not a directory) are kept for the cache's life;
// transient ones (environment unavailable, context ended) are not, so a
// later step tries again. Concurrent lookups of one key share one
// discovery. Safe for concurrent use.
type DiscoveryCache struct {
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry

	hits, misses atomic.Int64
}

// NewDiscoveryCache returns an empty cache.
func NewDiscoveryCache() *DiscoveryCache {
	return &DiscoveryCache{entries: map[cacheKey]*cacheEntry{}}
}

// CacheStats counts lookups answered from the cache and discoveries run.
type CacheStats struct {
	Hits, Misses int64
}

// Stats returns the counts so far.
func (c *DiscoveryCache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// Discover returns what root offers, reading it through env on a miss.
func (c *DiscoveryCache) Discover(ctx context.Context, env environment.Environment, root SelectedCapabilityRoot) (Discovery, error) {
	d, _, err := c.lookup(ctx, env, root)
	return d, err
}

// lookup is Discover that also says whether the cache answered.
func (c *DiscoveryCache) lookup(ctx context.Context, env environment.Environment, root SelectedCapabilityRoot) (Discovery, bool, error) {
	key := cacheKey{root.Location.EnvironmentID, root.ID, root.Location.Path}
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e = &cacheEntry{done: make(chan struct{})}
		c.entries[key] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			c.hits.Add(1)
			return e.d, true, e.err
		case <-ctx.Done():
			return Discovery{}, false, context.Cause(ctx)
		}
	}
	c.misses.Add(1)
	e.d, e.err = discover(ctx, env, root)
	if e.err != nil && transient(e.err) {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	close(e.done)
	return e.d, false, e.err
}
