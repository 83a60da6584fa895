package sticky

import (
	"sync"
	"sync/atomic"
	"time"
)

// shard is one lock's worth of the table. Besides its map, it keeps its idle
// entries (those without live connections) in a list from the most to the
// least recently used: the eviction candidates, oldest at the tail.
type shard struct {
	mu      sync.Mutex
	entries map[string]*entry
	newest  *entry // head of the idle list
	oldest  *entry // tail of the idle list
	gen     uint64 // last generation handed out; see entry.gen

	// oldestIdle is the lastUse of the oldest idle entry plus one, 0 when
	// the shard has none. It is written under mu and read without it, so
	// that eviction finds the table's least recently used entry without
	// locking all the shards.
	oldestIdle atomic.Int64

	// Keeps the hot fields of neighbouring shards on separate cache lines.
	_ [64]byte
}

// entry is one client ID's record. An entry is in its shard's idle list
// exactly when live is 0.
type entry struct {
	clientID     string
	backend      string
	newer, older *entry // idle list links
	lastUse      int64  // nanoseconds since Table.epoch
	keep         time.Duration
	// gen identifies the entry's current pointing: it changes when the
	// entry is created or re-pointed to another backend, so that a Ref
	// taken before is recognised as stale. Generations come from a
	// per-shard counter and a key always falls in the same shard, so a
	// generation is never reused for the same key.
	gen  uint64
	live int32
}

// expired reports whether the idle entry has outlived its keep time.
// Comparing the elapsed time, rather than adding keep to lastUse, cannot
// overflow when keep is forever.
func (e *entry) expired(now int64) bool {
	return e.live == 0 && time.Duration(now-e.lastUse) >= e.keep
}

func (s *shard) nextGen() uint64 {
	s.gen++
	return s.gen
}

// pushNewest puts e at the head of the idle list.
func (s *shard) pushNewest(e *entry) {
	e.older = s.newest
	e.newer = nil
	if s.newest != nil {
		s.newest.newer = e
	} else {
		s.oldest = e
	}
	s.newest = e
}

// unlink takes e out of the idle list.
func (s *shard) unlink(e *entry) {
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		s.newest = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		s.oldest = e.newer
	}
	e.newer, e.older = nil, nil
}

// unlock publishes the shard's oldest idle entry for eviction and releases
// the lock; every locked section that may change the idle list ends with it.
func (s *shard) unlock() {
	var oldest int64
	if s.oldest != nil {
		oldest = s.oldest.lastUse + 1
	}
	if s.oldestIdle.Load() != oldest {
		s.oldestIdle.Store(oldest)
	}
	s.mu.Unlock()
}

// remove deletes e from its shard, which the caller has locked.
func (t *Table) remove(s *shard, e *entry) {
	if e.live == 0 {
		s.unlink(e)
	}
	delete(s.entries, e.clientID)
	t.count.Add(-1)
}

// sweepSize bounds the expired entries one write looks for in its shard.
const sweepSize = 2

// sweepOldest removes expired entries from the tail of the locked shard's
// idle list, where the entries kept for the full TTL expire in order. Every
// write calls it; the tail is the only place it looks, so it costs one
// entry's cache line when nothing has expired.
func (t *Table) sweepOldest(s *shard, now int64) {
	for range sweepSize {
		e := s.oldest
		if e == nil || !e.expired(now) {
			return
		}
		t.remove(s, e)
	}
}

// sweepSample looks at a few entries from a random place of the locked
// shard's map (Go randomises where a map range starts) and removes the
// expired ones: it finds the entries kept for less than the TTL, which
// expire out of the idle list's order. Each look is likely a cache miss, so
// only inserts, which grow the table, pay for it.
func (t *Table) sweepSample(s *shard, now int64) {
	looked := 0
	for _, e := range s.entries {
		if looked == sweepSize {
			return
		}
		looked++
		if e.expired(now) {
			t.remove(s, e)
		}
	}
}

// evictOverflow removes the least recently used idle entries of the whole
// table while it holds more than MaxEntries. It runs without any shard
// locked and locks only the victim's shard. Every turn of the loop either
// evicts an entry or finds that the published oldest entry has just left its
// shard, so a writer loops only as long as other writers keep filling the
// table, each of which evicts for itself as well.
func (t *Table) evictOverflow() {
	limit := t.maxEntries()
	if limit < 0 {
		return
	}
	for t.count.Load() > limit {
		s := t.oldestShard()
		if s == nil {
			return // every entry is live
		}
		s.mu.Lock()
		if e := s.oldest; e != nil && t.count.Load() > limit {
			t.remove(s, e)
		}
		s.unlock()
	}
}

// oldestShard returns the shard whose oldest idle entry is the least
// recently used of the table, or nil when no shard has an idle entry.
func (t *Table) oldestShard() *shard {
	var best *shard
	var bestUse int64
	for i := range t.shards {
		s := &t.shards[i]
		use := s.oldestIdle.Load()
		if use != 0 && (best == nil || use < bestUse) {
			best, bestUse = s, use
		}
	}
	return best
}
