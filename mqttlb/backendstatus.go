package mqttlb

import (
	"slices"
	"time"

	"github.com/mqttlb/mqttlb/balance"
)

// BackendStatus is the state of one backend of a pool, for statistics
// and admin pages.
type BackendStatus struct {
	// Backend is the pool's backend, with its live counters.
	Backend *balance.Backend
	// State is the operator's administrative state.
	State State
	// Down reports that a health source marked the backend down.
	Down bool
	// Since is when State or Down last changed; the zero time if neither
	// has changed since the backend joined the pool.
	Since time.Time
	// Err is the reason given to MarkDown while the backend is down; nil
	// when it is up or when SetHealthy took it down.
	Err error
	// Sessions is the number of live connections the pool can close on
	// the backend (see CloseSessions).
	Sessions int
}

// BackendStatuses returns the status of every backend, in the pool's
// order.
func (p *Pool) BackendStatuses() []BackendStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]BackendStatus, len(p.members))
	for i, m := range p.members {
		out[i] = BackendStatus{
			Backend:  m.backend,
			State:    State(m.state.Load()),
			Down:     m.down.Load(),
			Since:    m.since,
			Err:      m.healthErr,
			Sessions: m.sessions.len(),
		}
	}
	return out
}

// SetHealthy marks the backends whose Addr is in healthy as up and every
// other backend as down. It fits health.Monitor's update callback:
//
//	go mon.Run(ctx, pool.Addrs(), pool.SetHealthy)
//
// A backend that goes down or comes up this way triggers the pool's
// ShutdownSessionsOnDown and ShutdownBackupSessionsOnUp.
func (p *Pool) SetHealthy(healthy []string) {
	p.mu.Lock()
	var changed []*member
	for _, m := range p.members {
		if p.markLocked(m, !slices.Contains(healthy, m.backend.Addr), nil) {
			changed = append(changed, m)
		}
	}
	p.finishMarksLocked(changed)
}

// MarkDown marks the backends with the address addr as down, keeping
// reason for BackendStatuses, and reports whether there was one. It fits
// a health.Monitor's OnEvent, which carries the failed probe's error:
//
//	mon.OnEvent = func(ev health.Event) {
//		if ev.New == health.Up {
//			pool.MarkUp(ev.Addr)
//		} else {
//			pool.MarkDown(ev.Addr, ev.Err)
//		}
//	}
func (p *Pool) MarkDown(addr string, reason error) bool {
	return p.mark(addr, true, reason)
}

// MarkUp marks the backends with the address addr as up and reports
// whether there was one.
func (p *Pool) MarkUp(addr string) bool {
	return p.mark(addr, false, nil)
}

func (p *Pool) mark(addr string, down bool, reason error) bool {
	p.mu.Lock()
	var found bool
	var changed []*member
	for _, m := range p.members {
		if m.backend.Addr != addr {
			continue
		}
		found = true
		if p.markLocked(m, down, reason) {
			changed = append(changed, m)
		}
	}
	p.finishMarksLocked(changed)
	return found
}

// markLocked sets a member's health and reports whether it changed. The
// reason of a down backend is kept until it comes up.
func (p *Pool) markLocked(m *member, down bool, reason error) bool {
	if m.down.Load() == down {
		if down && m.healthErr == nil {
			m.healthErr = reason
		}
		return false
	}
	m.down.Store(down)
	m.healthErr = reason
	m.since = time.Now()
	return true
}

// finishMarksLocked rebuilds the snapshot after health marks, unlocks
// p.mu, and closes the sessions that the pool's options shut down on the
// changes.
func (p *Pool) finishMarksLocked(changed []*member) {
	p.rebuildLocked(time.Now().UnixNano())
	var closeOn []*member
	for _, m := range changed {
		switch {
		case m.down.Load() && p.ShutdownSessionsOnDown:
			closeOn = append(closeOn, m)
		case !m.down.Load() && p.ShutdownBackupSessionsOnUp && !m.backend.Backup &&
			State(m.state.Load()) == StateReady:
			for _, b := range p.members {
				if b.backend.Backup && !slices.Contains(closeOn, b) {
					closeOn = append(closeOn, b)
				}
			}
		}
	}
	p.mu.Unlock()
	window := p.shutdownWindow()
	for _, m := range closeOn {
		if n := m.sessions.closePaced(window); n > 0 {
			p.logger().Info("closing sessions on health change", "pool", p.Name, "backend", m.backend.ID(),
				"down", m.down.Load(), "sessions", n, "window", window)
		}
	}
}
