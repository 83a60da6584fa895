package mqttlb

import (
	"errors"
	"fmt"
	"time"

	"github.com/mqttlb/mqttlb/balance"
)

// Runtime control of pools and their backends, as HAProxy's runtime API
// offers it ("set server state", "set server weight", "add server", ...).
// Every method is safe for concurrent use with connections: a change
// builds a new picker and swaps it in.

// Errors of the runtime control methods.
var (
	// ErrUnknownBackend: no backend of the pool has the given ID.
	ErrUnknownBackend = errors.New("mqttlb: unknown backend")
	// ErrDuplicateBackend: a backend with the same ID is in the pool.
	ErrDuplicateBackend = errors.New("mqttlb: duplicate backend")
)

// SetWeight sets the weight of the backend with the given ID, clamped to
// [0, balance.MaxWeight]; weight 0 takes it out of balancing while its
// sticky clients still reach it (see balance.Backend.SetWeight). It
// reports whether the backend exists.
func (p *Pool) SetWeight(id string, weight int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.memberLocked(id)
	if m == nil {
		return false
	}
	m.backend.SetWeight(weight)
	p.rebuildLocked(time.Now().UnixNano())
	return true
}

// AddBackend adds b at the end of the pool's backends, ready and up. It
// fails with ErrDuplicateBackend when the pool has a backend with the same
// ID. A health monitor started with the old Addrs does not probe b: restart
// it with the new set.
func (p *Pool) AddBackend(b *balance.Backend) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.memberLocked(b.ID()) != nil {
		return fmt.Errorf("%w: %q in pool %q", ErrDuplicateBackend, b.ID(), p.Name)
	}
	m := &member{backend: b}
	p.members = append(p.members[:len(p.members):len(p.members)], m)
	p.rebuildLocked(time.Now().UnixNano())
	return nil
}

// RemoveBackend takes the backend with the given ID out of the pool and
// returns it, or fails with ErrUnknownBackend. Its live connections are
// not touched: close them first with CloseSessions, or leave them
// to end by themselves. Its idle sticky entries are dropped, so its
// clients are placed anew (live ones go when their connections end).
func (p *Pool) RemoveBackend(id string) (*balance.Backend, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, m := range p.members {
		if m.backend.ID() == id {
			members := make([]*member, 0, len(p.members)-1)
			p.members = append(append(members, p.members[:i]...), p.members[i+1:]...)
			p.rebuildLocked(time.Now().UnixNano())
			if p.Sticky != nil {
				p.Sticky.DeleteBackend(id)
			}
			return m.backend, nil
		}
	}
	return nil, fmt.Errorf("%w: %q in pool %q", ErrUnknownBackend, id, p.Name)
}

// RecordCheck records the result of one health check of the backend with
// the given address, for the statistics: err is nil when it passed. It
// does not change the backend's state (SetHealthy does). Wrap a health
// checker to record every probe:
//
//	checker := health.CheckerFunc(func(ctx context.Context, addr string) error {
//		start := time.Now()
//		err := inner.Check(ctx, addr)
//		pool.RecordCheck(addr, err, time.Since(start))
//		return err
//	})
func (p *Pool) RecordCheck(addr string, err error, latency time.Duration) {
	res := &checkResult{at: time.Now(), latency: latency}
	if err != nil {
		res.err = err.Error()
	}
	for _, m := range p.snapshot().members {
		if m.backend.Addr != addr {
			continue
		}
		m.stats.checks.Add(1)
		if err != nil {
			m.stats.checkFails.Add(1)
		}
		m.stats.lastCheck.Store(res)
	}
}

// StickyBackend returns the ID of the backend the client ID sticks to in
// the pool's sticky table (its live connections' backend when the pool
// has no table), and whether there is one. Looking an entry up counts as
// a use of it, as for a connecting client.
func (p *Pool) StickyBackend(clientID string) (string, bool) {
	if p.Sticky == nil {
		return p.liveIDs.Load(clientID)
	}
	return p.Sticky.Load(clientID)
}

// ClearSticky removes the client ID's entry from the pool's sticky table,
// so its next connection is placed by the balancer. Live connections are
// not touched. It reports whether there was an entry.
func (p *Pool) ClearSticky(clientID string) bool {
	if p.Sticky == nil {
		return false
	}
	return p.Sticky.Delete(clientID)
}
