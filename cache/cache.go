// Package cache provides the size-bounded caches the proxy keeps in memory:
// the classification cache (statement text → classification) and, later, the
// result cache. It wraps hashicorp/golang-lru/v2 and adds hit/miss counters
// that the proxy exports as metrics.
package cache

import (
	"fmt"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// LRU is a generic, size-bounded, least-recently-used cache that is safe for
// concurrent use. Values are shared between callers: store immutable values.
type LRU[K comparable, V any] struct {
	c         *lru.Cache[K, V]
	size      int
	hits      atomic.Uint64
	misses    atomic.Uint64
	evictions atomic.Uint64
}

// Stats is a snapshot of a cache's counters.
type Stats struct {
	Hits      uint64 // lookups that found a value
	Misses    uint64 // lookups that found nothing
	Evictions uint64 // entries dropped to make room
	Len       int    // entries currently held
	Size      int    // maximum number of entries
}

// New returns a cache holding at most size entries. size must be positive.
func New[K comparable, V any](size int) (*LRU[K, V], error) {
	if size <= 0 {
		return nil, fmt.Errorf("cache: size must be positive, got %d", size)
	}
	l := &LRU[K, V]{size: size}
	c, err := lru.NewWithEvict[K, V](size, func(K, V) { l.evictions.Add(1) })
	if err != nil {
		return nil, fmt.Errorf("cache: creating LRU of size %d: %w", size, err)
	}
	l.c = c
	return l, nil
}

// Get returns the value stored under key and marks it recently used.
func (l *LRU[K, V]) Get(key K) (V, bool) {
	v, ok := l.c.Get(key)
	if ok {
		l.hits.Add(1)
	} else {
		l.misses.Add(1)
	}
	return v, ok
}

// Add stores value under key, evicting the least recently used entry when full.
func (l *LRU[K, V]) Add(key K, value V) {
	l.c.Add(key, value)
}

// Remove drops key from the cache.
func (l *LRU[K, V]) Remove(key K) {
	l.c.Remove(key)
}

// Purge empties the cache (counters are kept).
func (l *LRU[K, V]) Purge() {
	l.c.Purge()
}

// Len reports the number of entries held.
func (l *LRU[K, V]) Len() int { return l.c.Len() }

// Stats returns a snapshot of the counters.
func (l *LRU[K, V]) Stats() Stats {
	return Stats{
		Hits:      l.hits.Load(),
		Misses:    l.misses.Load(),
		Evictions: l.evictions.Load(),
		Len:       l.c.Len(),
		Size:      l.size,
	}
}
