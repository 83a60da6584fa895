// Package sticky remembers which backend holds each MQTT client's session, so
// that a reconnecting client goes back to the broker node that has its
// subscriptions and queued messages.
//
// It is the client-ID stick table of HAProxy's MQTT setups (`stick on
// req.payload(0,0),mqtt_field_value(connect,client_identifier)`) without its
// traps: the whole client ID is the key, never a 32-byte prefix, and an entry
// lives as long as the broker keeps the session (from the CONNECT's Clean
// Start and Session Expiry Interval) instead of one fixed expiry.
//
//	var table sticky.Table // 30 minute TTL, about 100,000 entries at most
//
//	name, ok := table.Load(clientID) // where was this client last time?
//	// ... pick name if ok and still usable, else a fresh backend; dial it ...
//	ref, others := table.Acquire(clientID, picked, sticky.Session{Version: 5, Expiry: 3600, HasExpiry: true})
//	defer table.Release(ref) // when the connection ends
//	if others > 0 {
//		// the same client ID is connected elsewhere: the broker will take the session over
//	}
package sticky

import (
	"hash/maphash"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTTL is how long an idle entry is kept when Table.TTL is 0, the
// `expire 30m` of the usual HAProxy stick table.
const DefaultTTL = 30 * time.Minute

// DefaultMaxEntries bounds the table when Table.MaxEntries is 0, the
// `size 100k` of the usual HAProxy stick table.
const DefaultMaxEntries = 100_000

// shardCount spreads the keys over that many independently locked shards,
// so that connections on different cores rarely wait for one another.
const shardCount = 64

// Table maps MQTT client IDs to the name of the backend that holds the
// client's session. The zero Table is ready to use.
//
// An entry with live connections (taken by [Table.Acquire], given back by
// [Table.Release]) never expires and is never evicted. Once its last
// connection is released, the entry is kept for the time the broker keeps the
// session ([Session.Keep]), restarted by every use, and may be evicted before
// that, least recently used first, when the table holds more than MaxEntries.
// Expired entries are removed when they are next touched and by a small
// sweep of the shard on every Acquire and Release (its oldest idle entries,
// plus a random sample when an entry is inserted); there is no background
// goroutine.
//
// All methods are safe for concurrent use. Set TTL and MaxEntries before the
// first use and do not change them afterwards. A Table must not be copied
// after first use.
type Table struct {
	// TTL is the longest an idle entry is kept after its last use: the
	// bound of sessions that never expire, of MQTT 3.1.1 sessions with
	// Clean Session 0 and of longer MQTT 5 Session Expiry Intervals.
	// 0 means DefaultTTL; a negative TTL means no time bound, so only
	// MaxEntries limits the table.
	TTL time.Duration
	// MaxEntries is the number of entries above which idle entries are
	// evicted, least recently used first. Entries with live connections
	// are never evicted, so a table whose entries are all live can hold
	// more. 0 means DefaultMaxEntries; a negative value means no bound.
	MaxEntries int

	once  sync.Once
	seed  maphash.Seed
	epoch time.Time // the zero of every entry's clock, read monotonically
	count atomic.Int64

	shards [shardCount]shard
}

// Ref is one connection's reference on an entry, returned by
// [Table.Acquire] and given back, exactly once, to [Table.Release]. It is a
// small value, not a pointer; the zero Ref releases nothing.
type Ref struct {
	clientID string
	gen      uint64
}

// Entry is a snapshot of one entry, as reported by [Table.All].
type Entry struct {
	// Backend is the name of the backend the client ID sticks to.
	Backend string
	// Live is the number of connections currently holding the entry.
	Live int
	// LastUse is when the entry was last loaded, acquired or released.
	LastUse time.Time
	// Expires is when the idle entry will be removed unless used again;
	// it is zero while Live > 0, and for an entry with no time bound (a
	// session that never expires in a table with a negative TTL).
	Expires time.Time
}

// Load returns the backend the client ID sticks to. A hit counts as a use:
// it restarts the entry's expiry and makes it the most recently used. Load
// does not allocate.
func (t *Table) Load(clientID string) (backend string, ok bool) {
	s := t.shard(clientID)
	s.mu.Lock()
	defer s.unlock()
	e := s.entries[clientID]
	if e == nil {
		return "", false
	}
	now := t.now()
	if e.expired(now) {
		t.remove(s, e)
		return "", false
	}
	e.lastUse = now
	if e.live == 0 {
		s.unlink(e)
		s.pushNewest(e)
	}
	return e.backend, true
}

// Acquire records that a connection for clientID is now live on backend
// (the backend's name, stored as given) and takes a reference on the entry
// for it, to be given back with Release when the connection ends. Call it
// once the backend connection is established.
//
// If the entry pointed at another backend, it is re-pointed and the
// references taken before become stale: releasing them changes nothing, so
// an old connection ending late cannot make the new one look idle.
//
// sess comes from this connection's CONNECT and decides how long the entry
// is kept once its last connection is released (see [Session.Keep]); the
// most recent Acquire wins, as the broker follows the most recent CONNECT.
//
// others is the number of connections for this client ID that were live
// before this one: more than 0 means a duplicate client ID, which the broker
// resolves by disconnecting the older connection (MQTT 3.1.1
// [MQTT-3.1.4-2], MQTT 5.0 [MQTT-3.1.4-3] "Session taken over").
func (t *Table) Acquire(clientID, backend string, sess Session) (ref Ref, others int) {
	keep := sess.Keep(t.ttl())
	s := t.shard(clientID)
	s.mu.Lock()
	now := t.now()
	e := s.entries[clientID]
	if e != nil && e.expired(now) {
		t.remove(s, e)
		e = nil
	}
	inserted := e == nil
	if inserted {
		// The clone keeps the table from pinning the caller's buffer (a
		// CONNECT packet) for as long as the entry lives.
		e = &entry{clientID: strings.Clone(clientID), backend: backend, gen: s.nextGen()}
		if s.entries == nil {
			s.entries = make(map[string]*entry)
		}
		s.entries[e.clientID] = e
		t.count.Add(1)
	} else {
		others = int(e.live)
		if e.live == 0 {
			s.unlink(e)
		}
		if e.backend != backend {
			e.backend, e.gen, e.live = backend, s.nextGen(), 0
		}
	}
	e.live++
	e.keep = keep
	e.lastUse = now
	ref = Ref{clientID: e.clientID, gen: e.gen}
	t.sweepOldest(s, now)
	if inserted {
		t.sweepSample(s, now)
	}
	s.unlock()
	if inserted {
		t.evictOverflow()
	}
	return ref, others
}

// Release gives back a reference taken by Acquire, when its connection
// ends, and reports whether it still counted: it does not for the zero Ref,
// for a reference made stale by a re-point or a Delete, and for a reference
// already released while it was the last one. Releasing a live reference
// twice takes a reference of another connection, like calling
// sync.WaitGroup.Done twice.
//
// When the last reference goes, the entry's keep time starts; an entry
// whose session ends with the connection is removed at once.
func (t *Table) Release(ref Ref) bool {
	if ref.gen == 0 {
		return false
	}
	s := t.shard(ref.clientID)
	s.mu.Lock()
	e := s.entries[ref.clientID]
	if e == nil || e.gen != ref.gen || e.live == 0 {
		s.mu.Unlock()
		return false
	}
	now := t.now()
	e.lastUse = now
	idle := false
	switch {
	case e.live > 1:
		e.live--
	case e.keep == 0:
		t.remove(s, e) // the session ends with its last connection
	default:
		e.live = 0
		s.pushNewest(e)
		idle = true
	}
	t.sweepOldest(s, now)
	s.unlock()
	if idle {
		// The table may have grown past MaxEntries while every entry
		// was live; this one is now a candidate.
		t.evictOverflow()
	}
	return true
}

// Delete removes the client ID's entry, live or not, and reports whether
// there was one. References taken on it become stale.
func (t *Table) Delete(clientID string) bool {
	s := t.shard(clientID)
	s.mu.Lock()
	defer s.unlock()
	e := s.entries[clientID]
	if e == nil {
		return false
	}
	t.remove(s, e)
	return true
}

// DeleteBackend removes the idle entries that point at backend, for a
// backend taken out of service, and returns how many it removed. Entries
// with live connections to it stay, so that duplicate client IDs are still
// seen, and are removed when their last connection is released.
func (t *Table) DeleteBackend(backend string) int {
	t.init()
	removed := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, e := range s.entries {
			if e.backend != backend {
				continue
			}
			if e.live > 0 {
				e.keep = 0
				continue
			}
			t.remove(s, e)
			removed++
		}
		s.unlock()
	}
	return removed
}

// Len returns the number of entries, live or idle. It may count expired
// entries that no access or sweep has removed yet; [Table.All] removes them.
func (t *Table) Len() int { return int(t.count.Load()) }

// All iterates over the unexpired entries by client ID, in no particular
// order, and removes the expired ones it meets. It locks one shard at a time
// and yields a copy of that shard's entries after unlocking it, so the
// loop body may call the table; the result is a consistent snapshot of each
// shard, not of the whole table.
func (t *Table) All() iter.Seq2[string, Entry] {
	return func(yield func(string, Entry) bool) {
		t.init()
		var batch []snapshot
		for i := range t.shards {
			batch = t.copyShard(&t.shards[i], batch[:0])
			for _, item := range batch {
				if !yield(item.clientID, item.entry) {
					return
				}
			}
		}
	}
}

// snapshot is one entry copied out by All.
type snapshot struct {
	clientID string
	entry    Entry
}

// copyShard appends the shard's unexpired entries to dst.
func (t *Table) copyShard(s *shard, dst []snapshot) []snapshot {
	s.mu.Lock()
	defer s.unlock()
	now := t.now()
	for _, e := range s.entries {
		if e.expired(now) {
			t.remove(s, e)
			continue
		}
		item := snapshot{clientID: e.clientID, entry: Entry{
			Backend: e.backend,
			Live:    int(e.live),
			LastUse: t.epoch.Add(time.Duration(e.lastUse)),
		}}
		if e.live == 0 && e.keep != forever {
			item.entry.Expires = item.entry.LastUse.Add(e.keep)
		}
		dst = append(dst, item)
	}
	return dst
}

// init fixes the shard hash seed and the clock's zero on first use, so the
// zero Table works.
func (t *Table) init() {
	t.once.Do(func() {
		t.seed = maphash.MakeSeed()
		t.epoch = time.Now()
	})
}

// shard returns the shard that holds clientID.
func (t *Table) shard(clientID string) *shard {
	t.init()
	return &t.shards[maphash.String(t.seed, clientID)%shardCount]
}

// now returns the time since t.epoch in nanoseconds. It uses the monotonic
// clock, so a wall clock step neither expires nor revives entries.
func (t *Table) now() int64 { return int64(time.Since(t.epoch)) }

func (t *Table) ttl() time.Duration {
	switch {
	case t.TTL == 0:
		return DefaultTTL
	case t.TTL < 0:
		return forever
	}
	return t.TTL
}

func (t *Table) maxEntries() int64 {
	if t.MaxEntries == 0 {
		return DefaultMaxEntries
	}
	return int64(t.MaxEntries)
}
