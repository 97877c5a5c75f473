package authz

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/photoncloud/core/iam/internal/policy"
)

// decisionCache keeps unconditional decisions by (principal, permission,
// resource). An entry is used only while it is younger than the TTL and
// was made at the index revision now in force, so any policy write
// invalidates every entry at once without touching them. The TTL bounds how
// stale an answer can be with respect to what the revision does not cover
// (group membership).
type decisionCache struct {
	seed     maphash.Seed
	ttl      time.Duration
	perShard int
	shards   [64]cacheShard
}

type cacheShard struct {
	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	dec     policy.Decision
	expires time.Time
}

func newDecisionCache(ttl time.Duration, size int) *decisionCache {
	c := &decisionCache{seed: maphash.MakeSeed(), ttl: ttl, perShard: max(size/64, 16)}
	for i := range c.shards {
		c.shards[i].m = map[string]cacheEntry{}
	}
	return c
}

func (c *decisionCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

func (c *decisionCache) get(key string, rev uint64, now time.Time) (policy.Decision, bool) {
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.m[key]
	s.mu.Unlock()
	if !ok || e.dec.Revision != rev || !now.Before(e.expires) {
		return policy.Decision{}, false
	}
	return e.dec, true
}

func (c *decisionCache) put(key string, dec policy.Decision, now time.Time) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		// Dropping a whole shard is crude but O(1) amortised and keeps
		// memory bounded; hot entries come back on the next miss.
		clear(s.m)
	}
	s.m[key] = cacheEntry{dec: dec, expires: now.Add(c.ttl)}
}

func cacheKey(principal, permission, resource string) string {
	return principal + "\x00" + permission + "\x00" + resource
}
