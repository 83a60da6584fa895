package mqttlb

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxSources bounds the source addresses a ConnLimiter tracks at
// once when MaxSources is 0.
const DefaultMaxSources = 1 << 16

// limiterShards spreads the per-source buckets over independently locked
// maps, so that concurrent accepts from different addresses rarely meet
// on one lock.
const limiterShards = 64

// ConnLimiter limits the rate of new connections per source address and
// in total, with token buckets (HAProxy's "rate-limit sessions" and a
// stick table tracking "conn_rate" per source). A refused client's
// CONNECT is still read, so that MQTT 5 clients get CONNACK 0x97 (Quota
// exceeded) and MQTT 3.1.1 clients return code 0x03 (Server
// unavailable); anything else is closed.
//
// Set the fields before the first Allow and do not change them
// afterwards. Allow is safe for concurrent use: the total bucket is one
// atomic word, and the per-source buckets live in sharded maps, each
// shard under its own lock and bounded in size.
type ConnLimiter struct {
	// PerSource is the sustained rate of new connections allowed from one
	// source address, per second. IPv6 sources are counted per /64, the
	// block a single host usually holds. 0 means no per-source limit.
	PerSource float64
	// PerSourceBurst is how many connections one source may open at once
	// above the sustained rate; 0 means one second's worth (at least 1).
	PerSourceBurst int
	// Total is the sustained rate of new connections allowed from all
	// sources together, per second; 0 means no total limit.
	Total float64
	// TotalBurst is the total bucket's size; 0 means one second's worth
	// (at least 1).
	TotalBurst int
	// MaxSources bounds the source addresses tracked at once; 0 means
	// DefaultMaxSources. When it is reached, sources whose bucket has
	// refilled are forgotten first, then arbitrary ones.
	MaxSources int

	once   sync.Once
	seed   maphash.Seed
	total  gcra
	source struct{ interval, tolerance int64 }
	shards [limiterShards]sourceShard
}

// sourceShard holds, per source, the theoretical arrival time of the
// next connection (GCRA): a source whose time has passed is as good as
// unknown and may be forgotten.
type sourceShard struct {
	mu  sync.Mutex
	tat map[netip.Addr]int64
	max int
}

// gcra is a token bucket kept as one theoretical arrival time (the
// generic cell rate algorithm of ITU-T I.371): a connection at now is
// allowed when max(tat, now) + interval - now <= tolerance + interval.
type gcra struct {
	interval, tolerance int64 // nanoseconds; interval 0 means unlimited
	tat                 atomic.Int64
}

func bucketParams(rate float64, burst int) (interval, tolerance int64) {
	if rate <= 0 {
		return 0, 0
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(rate)))
	}
	interval = max(int64(float64(time.Second)/rate), 1)
	return interval, interval * int64(burst-1)
}

func (g *gcra) allow(now int64) bool {
	if g.interval == 0 {
		return true
	}
	for {
		tat := g.tat.Load()
		next := max(tat, now) + g.interval
		if next-now > g.tolerance+g.interval {
			return false
		}
		if g.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

func (l *ConnLimiter) init() {
	l.seed = maphash.MakeSeed()
	l.total.interval, l.total.tolerance = bucketParams(l.Total, l.TotalBurst)
	l.source.interval, l.source.tolerance = bucketParams(l.PerSource, l.PerSourceBurst)
	maxSources := l.MaxSources
	if maxSources <= 0 {
		maxSources = DefaultMaxSources
	}
	for i := range l.shards {
		l.shards[i].max = max(1, maxSources/limiterShards)
		l.shards[i].tat = make(map[netip.Addr]int64)
	}
}

// Allow takes a token for a new connection from src. It returns nil, or
// an error wrapping ErrQuotaExceeded that names the limit reached. A
// source over its own limit does not use up the total bucket.
func (l *ConnLimiter) Allow(src netip.Addr) error {
	l.once.Do(l.init)
	now := time.Now().UnixNano()
	if l.source.interval != 0 && !l.allowSource(sourceKey(src), now) {
		return fmt.Errorf("%w: %s over %g connections/s", ErrQuotaExceeded, src, l.PerSource)
	}
	if !l.total.allow(now) {
		return fmt.Errorf("%w: over %g connections/s in total", ErrQuotaExceeded, l.Total)
	}
	return nil
}

// sourceKey is the address a source is counted under: IPv4 as such (also
// when mapped into IPv6), IPv6 by its /64.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func (l *ConnLimiter) allowSource(key netip.Addr, now int64) bool {
	s := &l.shards[maphash.Comparable(l.seed, key)%limiterShards]
	interval, tolerance := l.source.interval, l.source.tolerance
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, known := s.tat[key]
	next := max(tat, now) + interval
	if next-now > tolerance+interval {
		return false
	}
	if !known && len(s.tat) >= s.max {
		s.evict(now)
	}
	s.tat[key] = next
	return true
}

// evict makes room in a full shard: it forgets every source whose bucket
// has refilled, or one arbitrary source when none has.
func (s *sourceShard) evict(now int64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	if len(s.tat) < s.max {
		return
	}
	for k := range s.tat {
		delete(s.tat, k)
		return
	}
}

// Sources returns the number of source addresses tracked now.
func (l *ConnLimiter) Sources() int {
	l.once.Do(l.init)
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// limitRate asks the proxy's Limiter, if any, about a new connection.
func (p *Proxy) limitRate(remote netip.AddrPort) error {
	if p.Limiter == nil {
		return nil
	}
	return p.Limiter.Allow(remote.Addr())
}
