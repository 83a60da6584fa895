package mqttlb

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
)

// pipePool is a pool whose dials make in-memory pipes, for tests inside
// a synctest bubble; backends are named after their addresses.
type pipePool struct {
	*Pool
	mu    sync.Mutex
	peers []net.Conn // the backend ends of the pipes
}

func newPipePool(backends ...*balance.Backend) *pipePool {
	pp := &pipePool{}
	pp.Pool = &Pool{
		Name:     "pipes",
		Balancer: balance.First{},
		Logger:   quietLogger(),
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			client, backend := net.Pipe()
			pp.mu.Lock()
			pp.peers = append(pp.peers, backend)
			pp.mu.Unlock()
			return client, nil
		},
	}
	pp.SetBackends(backends)
	return pp
}

func (pp *pipePool) closePeers() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, c := range pp.peers {
		c.Close()
	}
}

// closeLog records when each upstream's close func ran, relative to start.
type closeLog struct {
	start time.Time
	mu    sync.Mutex
	at    map[*Upstream]time.Duration
}

func newCloseLog() *closeLog {
	return &closeLog{start: time.Now(), at: make(map[*Upstream]time.Duration)}
}

// dial makes n upstreams and gives each a close func that records its
// close and releases it, as the Proxy's relay does when it ends.
func (l *closeLog) dial(t *testing.T, pool *Pool, n int) []*Upstream {
	t.Helper()
	ups := make([]*Upstream, n)
	for i := range ups {
		u, err := pool.Dial(context.Background(), balance.ConnInfo{})
		require.NoError(t, err)
		u.SetClose(func() {
			l.mu.Lock()
			_, again := l.at[u]
			l.at[u] = time.Since(l.start)
			l.mu.Unlock()
			assert.False(t, again, "closed twice")
			u.Release()
			u.Conn.Close()
		})
		ups[i] = u
	}
	return ups
}

func (l *closeLog) times() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]time.Duration, 0, len(l.at))
	for _, d := range l.at {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func (l *closeLog) closed(u *Upstream) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.at[u]
	return ok
}

func TestCloseSessionsPacedOverWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := &balance.Backend{Name: "a", Addr: "a:1883"}, &balance.Backend{Name: "b", Addr: "b:1883"}
		pool := newPipePool(a, b)
		defer pool.closePeers()
		log := newCloseLog()
		onA := log.dial(t, pool.Pool, 10)
		pool.SetState("a", StateMaint)
		onB := log.dial(t, pool.Pool, 3)
		for _, u := range onB {
			require.Same(t, b, u.Backend)
		}

		n, ok := pool.CloseSessions("a", time.Second)
		assert.True(t, ok)
		assert.Equal(t, 10, n)
		time.Sleep(2 * time.Second)

		// Session i closes within its slot [i×100ms, (i+1)×100ms]; the
		// slots do not overlap, so the sorted times fall one per slot.
		times := log.times()
		require.Len(t, times, 10)
		slot := time.Second / 10
		for i, d := range times {
			assert.GreaterOrEqual(t, d, time.Duration(i)*slot, "close %d", i)
			assert.LessOrEqual(t, d, time.Duration(i+1)*slot, "close %d", i)
		}
		for _, u := range onA {
			assert.True(t, log.closed(u))
		}
		for _, u := range onB {
			assert.False(t, log.closed(u), "a session of another backend was closed")
		}
		assert.Equal(t, int64(3), b.Active())
		assert.Equal(t, int64(0), a.Active())

		n, ok = pool.CloseSessions("nope", time.Second)
		assert.False(t, ok)
		assert.Zero(t, n)
	})
}

func TestCloseSessionsSkipsEndedConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPipePool(&balance.Backend{Name: "a", Addr: "a:1883"})
		defer pool.closePeers()
		log := newCloseLog()
		ups := log.dial(t, pool.Pool, 4)

		n, _ := pool.CloseSessions("a", time.Second)
		require.Equal(t, 4, n)
		// Two connections end by themselves before their turn: their
		// timers are stopped and their close funcs never run.
		ups[0].Release()
		ups[1].Release()
		time.Sleep(2 * time.Second)
		assert.False(t, log.closed(ups[0]))
		assert.False(t, log.closed(ups[1]))
		assert.True(t, log.closed(ups[2]))
		assert.True(t, log.closed(ups[3]))
		assert.Zero(t, pool.BackendStatuses()[0].Sessions)
	})
}

func TestCloseSessionsEarlierRequestWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPipePool(&balance.Backend{Name: "a", Addr: "a:1883"})
		defer pool.closePeers()
		log := newCloseLog()
		log.dial(t, pool.Pool, 3)

		pool.CloseSessions("a", time.Hour)
		pool.CloseSessions("a", 0) // an operator's "now" overrides a slow drain
		synctest.Wait()
		assert.Equal(t, []time.Duration{0, 0, 0}, log.times())
	})
}

func TestCloseSessionsWithoutCloseFuncClosesConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPipePool(&balance.Backend{Name: "a", Addr: "a:1883"})
		defer pool.closePeers()
		u, err := pool.Dial(context.Background(), balance.ConnInfo{})
		require.NoError(t, err)
		defer u.Release()

		pool.CloseSessions("a", 0)
		_, err = u.Conn.Write([]byte{0xC0, 0})
		assert.ErrorIs(t, err, io.ErrClosedPipe)

		// A close func given after the close was requested runs at once:
		// the Proxy sets it between Dial and the relay's start.
		called := false
		u.SetClose(func() { called = true })
		assert.True(t, called)
	})
}

func TestShutdownSessionsOnDown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		option bool
		mark   func(p *Pool, addr string)
	}{
		{"MarkDown", true, func(p *Pool, addr string) { p.MarkDown(addr, errors.New("probe failed")) }},
		{"SetHealthy", true, func(p *Pool, addr string) { p.SetHealthy([]string{"b:1883"}) }},
		{"off", false, func(p *Pool, addr string) { p.MarkDown(addr, errors.New("probe failed")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := newPipePool(&balance.Backend{Name: "a", Addr: "a:1883"}, &balance.Backend{Name: "b", Addr: "b:1883"})
				defer pool.closePeers()
				pool.ShutdownSessionsOnDown = tc.option
				pool.ShutdownWindow = 500 * time.Millisecond
				log := newCloseLog()
				log.dial(t, pool.Pool, 5)

				tc.mark(pool.Pool, "a:1883")
				time.Sleep(time.Second)
				times := log.times()
				if !tc.option {
					assert.Empty(t, times)
					return
				}
				require.Len(t, times, 5)
				assert.LessOrEqual(t, times[4], 500*time.Millisecond)
				assert.Greater(t, times[4], times[0], "closes not spread")
				// New clients go to the backend still up.
				u, err := pool.Dial(context.Background(), balance.ConnInfo{})
				require.NoError(t, err)
				assert.Equal(t, "b", u.Backend.ID())
				u.Release()
			})
		})
	}
}

func TestShutdownBackupSessionsOnUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		option    bool
		maintA    bool
		wantClose bool
	}{
		{"on", true, false, true},
		{"off", false, false, false},
		{"regular in maint", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := newPipePool(
					&balance.Backend{Name: "a", Addr: "a:1883"},
					&balance.Backend{Name: "spare", Addr: "spare:1883", Backup: true},
				)
				defer pool.closePeers()
				pool.ShutdownBackupSessionsOnUp = tc.option
				pool.ShutdownWindow = -1 // all at once

				pool.MarkDown("a:1883", errors.New("refused"))
				log := newCloseLog()
				onBackup := log.dial(t, pool.Pool, 4)
				for _, u := range onBackup {
					require.Equal(t, "spare", u.Backend.ID())
				}
				if tc.maintA {
					pool.SetState("a", StateMaint)
				}
				pool.MarkUp("a:1883")
				synctest.Wait()
				if tc.wantClose {
					assert.Len(t, log.times(), 4)
				} else {
					assert.Empty(t, log.times())
				}
			})
		})
	}
}

func TestBackendStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPipePool(&balance.Backend{Name: "a", Addr: "a:1883"}, &balance.Backend{Name: "b", Addr: "b:1883"})
		defer pool.closePeers()
		log := newCloseLog()
		log.dial(t, pool.Pool, 2)

		st := pool.BackendStatuses()
		require.Len(t, st, 2)
		assert.Equal(t, BackendStatus{Backend: st[0].Backend, Sessions: 2}, st[0])
		assert.True(t, st[1].Since.IsZero())

		time.Sleep(time.Second)
		reason := errors.New("health: unexpected HTTP status 503")
		assert.True(t, pool.MarkDown("a:1883", reason))
		assert.False(t, pool.MarkDown("c:1883", reason))
		downAt := time.Now()
		pool.SetHealthy([]string{"b:1883"}) // the monitor's update after its event
		time.Sleep(time.Second)
		pool.SetState("b", StateDrain)

		st = pool.BackendStatuses()
		assert.Equal(t, "a", st[0].Backend.ID())
		assert.True(t, st[0].Down)
		assert.Equal(t, reason, st[0].Err, "the update without reasons keeps MarkDown's")
		assert.Equal(t, downAt, st[0].Since)
		assert.Equal(t, StateDrain, st[1].State)
		assert.Equal(t, downAt.Add(time.Second), st[1].Since)

		pool.MarkUp("a:1883")
		st = pool.BackendStatuses()
		assert.False(t, st[0].Down)
		assert.NoError(t, st[0].Err)
	})
}
