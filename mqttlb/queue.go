package mqttlb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mqttlb/mqttlb/balance"
)

// Queue defaults, for backends with a MaxConn.
const (
	// DefaultQueueTimeout is how long a connection waits for a backend
	// below its MaxConn (HAProxy's "timeout queue").
	DefaultQueueTimeout = 5 * time.Second
	// DefaultMaxQueue bounds the connections waiting at once per pool.
	DefaultMaxQueue = 1024
)

// slotQueue is the line of connections waiting for a backend slot, in
// arrival order. Each waiter has a one-slot channel: a freed slot wakes
// the first waiter not already woken, a change of the usable set wakes
// all of them. A woken waiter picks again; a connection arriving at the
// same moment may win the slot, and the waiter goes on waiting.
type slotQueue struct {
	mu      sync.Mutex
	waiters []chan struct{}
}

func (q *slotQueue) join(limit int) (chan struct{}, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) >= limit {
		return nil, false
	}
	ch := make(chan struct{}, 1)
	q.waiters = append(q.waiters, ch)
	return ch, true
}

func (q *slotQueue) leave(ch chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := slices.Index(q.waiters, ch); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
	}
}

// wakeOne tells the first waiter not yet told that a slot is free.
func (q *slotQueue) wakeOne() {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ch := range q.waiters {
		select {
		case ch <- struct{}{}:
			return
		default:
		}
	}
}

// wakeAll tells every waiter to pick again.
func (q *slotQueue) wakeAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ch := range q.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Queued returns the number of connections waiting for a backend below
// its MaxConn.
func (p *Pool) Queued() int {
	p.queue.mu.Lock()
	defer p.queue.mu.Unlock()
	return len(p.queue.waiters)
}

// dialQueued is Dial that, when every usable backend is at its MaxConn,
// waits in the pool's queue for a slot up to QueueTimeout.
func (p *Pool) dialQueued(ctx context.Context, ci balance.ConnInfo) (*Upstream, error) {
	up, err := p.Dial(ctx, ci)
	if err == nil || !p.mustQueue(err) {
		return up, err
	}
	timeout := p.QueueTimeout
	if timeout == 0 {
		timeout = DefaultQueueTimeout
	}
	if timeout < 0 {
		return nil, err
	}
	maxQueue := p.MaxQueue
	if maxQueue <= 0 {
		maxQueue = DefaultMaxQueue
	}
	ch, ok := p.queue.join(maxQueue)
	if !ok {
		return nil, fmt.Errorf("%w: pool %q: every backend at its maxconn and %d connections queued", ErrNoBackend, p.Name, maxQueue)
	}
	defer p.queue.leave(ch)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		// Pick again before the first wait: a slot freed between the
		// first Dial and join woke nobody.
		up, err = p.Dial(ctx, ci)
		if err == nil || !p.mustQueue(err) {
			return up, err
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("%w: pool %q: every backend still at its maxconn after the queue timeout %v", ErrNoBackend, p.Name, timeout)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: pool %q: %w", ErrNoBackend, p.Name, ctx.Err())
		}
	}
}

// mustQueue reports whether a failed Dial found only full backends: some
// backend is usable but at its MaxConn, so a slot may free up.
func (p *Pool) mustQueue(err error) bool {
	if !errors.Is(err, balance.ErrNoBackend) {
		return false
	}
	now := time.Now().UnixNano()
	for _, m := range p.snapshot().members {
		if m.usable(now) && m.backend.Full() {
			return true
		}
	}
	return false
}
